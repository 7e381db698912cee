import { isAlias, isMap, isPair, isScalar, isSeq, type Document, type LineCounter, type Node } from 'yaml';
import type { Position } from './issues';
import type { PathSegment } from './rules';

/**
 * Maps field paths of one parsed YAML document back to 1-based line/col in its source text.
 * A missing field is reported at the nearest enclosing node that exists.
 */
export class Locator {
  constructor(
    private readonly doc: Document,
    private readonly lines: LineCounter,
  ) {}

  /** Position of the value at `path`, or of its key when `onKey` (unknown fields). */
  locate(path: readonly PathSegment[], onKey = false): Position {
    let node: unknown = this.doc.contents;
    let keyNode: unknown;
    // An empty document's null scalar sits after its `---`; the marker's line start reads better.
    const empty = node === null || (isScalar(node) && node.value === null);
    let found = (empty ? undefined : this.start(node)) ?? this.start(this.doc);
    for (const seg of path) {
      const step = this.child(node, seg);
      if (!step) break;
      [node, keyNode] = step;
      const last = seg === path[path.length - 1];
      // An empty value (`replicas:`) has no node of its own: point at its key.
      found = (onKey && last ? this.start(keyNode) : undefined) ?? this.start(node) ?? this.start(keyNode) ?? found;
    }
    return this.lines.linePos(found ?? 0);
  }

  position(offset: number): Position {
    return this.lines.linePos(offset);
  }

  /** The path of the innermost mapping key or list item at `offset` (for YAML errors). */
  pathAt(offset: number): PathSegment[] {
    const path: PathSegment[] = [];
    let node: unknown = this.doc.contents;
    for (;;) {
      if (isMap(node)) {
        const pair = node.items.find((p) => within(p.key, offset) || within(p.value, offset));
        if (!pair || !isScalar(pair.key)) return path;
        path.push(String(pair.key.value));
        if (within(pair.key, offset)) return path;
        node = pair.value;
      } else if (isSeq(node)) {
        const index = node.items.findIndex((item) => within(item, offset));
        if (index < 0) return path;
        path.push(index);
        node = node.items[index];
      } else {
        return path;
      }
    }
  }

  private child(node: unknown, seg: PathSegment): [unknown, unknown] | undefined {
    const resolved = isAlias(node) ? node.resolve(this.doc) : node;
    if (isMap(resolved)) {
      const pair = resolved.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(seg));
      return pair ? [pair.value, pair.key] : undefined;
    }
    if (isSeq(resolved) && typeof seg === 'number') {
      const item: unknown = resolved.items[seg];
      return item === undefined ? undefined : [item, undefined];
    }
    return undefined;
  }

  private start(node: unknown): number | undefined {
    const range = (node as Partial<Pick<Node, 'range'>> | null | undefined)?.range;
    return range ? range[0] : undefined;
  }
}

function within(node: unknown, offset: number): boolean {
  const range = (node as Partial<Pick<Node, 'range'>> | null | undefined)?.range;
  return !!range && range[0] <= offset && offset < Math.max(range[1], range[0] + 1);
}

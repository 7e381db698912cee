import { stringify } from 'yaml';
import type { Service, ServiceDraft } from '@berth/core';
import { toSpecView } from './views';

const CONTEXT = 3;

/**
 * What applying `draft` would change, as a unified diff of the YAML rendering of
 * `{ metadata: { labels }, spec }` (defaults filled in), with the pinned digest as
 * `spec.template.imageDigest` beside the image (a tag that moved is a change too). `current`
 * undefined = a new service: every line is added. "" when nothing would change.
 */
export function diffService(current: Service | undefined, draft: ServiceDraft): string {
  const after = render(draft.labels, draft);
  if (!current) {
    return [`--- /dev/null`, `+++ ${draft.name}`, `@@ -0,0 +1,${after.length} @@`, ...after.map((l) => `+${l}`)].join('\n') + '\n';
  }
  const before = render(current.meta.labels, current);
  const hunks = unifiedHunks(lineDiff(before, after));
  if (hunks.length === 0) return '';
  return [`--- ${current.meta.name} (stored)`, `+++ ${draft.name} (manifest)`, ...hunks].join('\n') + '\n';
}

function render(labels: Readonly<Record<string, string>>, s: Pick<ServiceDraft, 'spec'>): string[] {
  const sortedLabels = Object.fromEntries(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  const spec = toSpecView(s.spec);
  const { runtime, image, ...rest } = spec.template;
  const digest = s.spec.template.imageDigest;
  const template = { runtime, image, ...(digest === undefined ? {} : { imageDigest: digest }), ...rest };
  const text = stringify({ metadata: { labels: sortedLabels }, spec: { ...spec, template } }, { lineWidth: 0 });
  return text.replace(/\n$/, '').split('\n');
}

type Op = { readonly kind: ' ' | '-' | '+'; readonly line: string };

/** Longest-common-subsequence line diff: unchanged lines kept, removals before additions. */
export function lineDiff(a: readonly string[], b: readonly string[]): Op[] {
  // lcs[i][j] = LCS length of a[i..] and b[j..]
  const lcs = Array.from({ length: a.length + 1 }, () => new Array<number>(b.length + 1).fill(0));
  for (let i = a.length - 1; i >= 0; i--) {
    for (let j = b.length - 1; j >= 0; j--) {
      lcs[i]![j] = a[i] === b[j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!);
    }
  }
  const ops: Op[] = [];
  let [i, j] = [0, 0];
  while (i < a.length || j < b.length) {
    if (i < a.length && j < b.length && a[i] === b[j]) {
      ops.push({ kind: ' ', line: a[i++]! });
      j++;
    } else if (j >= b.length || (i < a.length && lcs[i + 1]![j]! >= lcs[i]![j + 1]!)) ops.push({ kind: '-', line: a[i++]! });
    else ops.push({ kind: '+', line: b[j++]! });
  }
  return ops;
}

/** Groups changes with CONTEXT lines around them into `@@ -a,n +b,m @@` hunks. */
function unifiedHunks(ops: readonly Op[]): string[] {
  const changed = ops.map((op, k) => (op.kind === ' ' ? -1 : k)).filter((k) => k >= 0);
  if (changed.length === 0) return [];
  const out: string[] = [];
  let start = 0;
  while (start < changed.length) {
    let end = start;
    while (end + 1 < changed.length && changed[end + 1]! - changed[end]! <= 2 * CONTEXT) end++;
    const from = Math.max(0, changed[start]! - CONTEXT);
    const to = Math.min(ops.length, changed[end]! + CONTEXT + 1);
    out.push(hunkHeader(ops, from, to), ...ops.slice(from, to).map((op) => `${op.kind}${op.line}`));
    start = end + 1;
  }
  return out;
}

function hunkHeader(ops: readonly Op[], from: number, to: number): string {
  const before = ops.slice(0, from);
  const oldStart = before.filter((o) => o.kind !== '+').length + 1;
  const newStart = before.filter((o) => o.kind !== '-').length + 1;
  const body = ops.slice(from, to);
  const oldCount = body.filter((o) => o.kind !== '+').length;
  const newCount = body.filter((o) => o.kind !== '-').length;
  return `@@ -${oldStart},${oldCount} +${newStart},${newCount} @@`;
}

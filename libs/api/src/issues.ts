import type { Issue } from '@berth/core';
import type { FieldProblem } from './cross-checks';
import type { PathSegment } from './rules';

const PLAIN_KEY = /^[A-Za-z_][A-Za-z0-9_-]*$/;
/** Longer keys are shown cut to this many characters. */
const MAX_SEGMENT = 40;

/** `spec.template.ports[1].hostPort`; keys that are not identifiers as `labels["app.io/name"]`. */
export function formatPath(path: readonly PathSegment[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (seg.length > MAX_SEGMENT) out += `[${JSON.stringify(`${seg.slice(0, MAX_SEGMENT - 3)}...`)}]`; // a 4 MB key is not echoed whole
    else if (PLAIN_KEY.test(seg)) out += out === '' ? seg : `.${seg}`;
    else out += `[${JSON.stringify(seg)}]`;
  }
  return out;
}

/** Where an issue sits in its source text, when there is one. */
export interface Position {
  readonly line: number;
  readonly col: number;
}

export function toIssue(p: FieldProblem, where: { file?: string; document: number; position?: Position }): Issue {
  return {
    path: formatPath(p.path),
    message: p.message,
    ...(where.file === undefined ? {} : { file: where.file }),
    ...(where.position ? { line: where.position.line, col: where.position.col } : {}),
    document: where.document,
  };
}

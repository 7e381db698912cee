import { ValidationError, type ServiceDraft } from '@berth/core';
import { LIMITS, limitIssues } from './bounds';
import { toIssue } from './issues';
import { runSync, runYielding, type Steps } from './steps';
import { validateEach } from './validate';

/**
 * Already-parsed manifest objects (the server's JSON body `{ items: […] }`) → drafts, by the same
 * rules as parseManifests. Throws `ValidationError` listing every issue, each with its field path
 * and the item's index as `document` (and `opts.file` when given); JSON carries no line/col.
 */
export function validateManifestObjects(items: readonly unknown[], opts: { file?: string } = {}): ServiceDraft[] {
  return runSync(objectSteps(items, opts));
}

/** validateManifestObjects giving the event loop a turn every few milliseconds (the server's: steps.ts). */
export function validateManifestObjectsYielding(items: readonly unknown[], opts: { file?: string } = {}): Promise<ServiceDraft[]> {
  return runYielding(objectSteps(items, opts));
}

function* objectSteps(items: readonly unknown[], opts: { file?: string }): Steps<ServiceDraft[]> {
  if (items.length === 0) throw new ValidationError([{ path: '', message: 'no manifests given (expected at least one item)', ...fileOf(opts) }]);
  if (items.length > LIMITS.documents) {
    throw new ValidationError([{ path: 'items', message: `has ${items.length.toLocaleString('en-US')} items; one apply may have at most ${LIMITS.documents} (apply them in several steps)`, ...fileOf(opts) }]);
  }
  const results = yield* validateEach(items, (i) => `item ${i}`);
  const issues = results.flatMap((r, document) => r.problems.map((p) => toIssue(p, { ...fileOf(opts), document })));
  const unlisted = results.reduce((n, r) => n + (r.unlisted ?? 0), 0);
  if (issues.length > 0) throw new ValidationError(limitIssues(issues, unlisted));
  return results.map((r) => r.draft!);
}

const fileOf = (opts: { file?: string }): { file?: string } => (opts.file === undefined ? {} : { file: opts.file });

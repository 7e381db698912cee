import { ValidationError, type ServiceDraft } from '@berth/core';
import { toIssue } from './issues';
import { validateDocuments } from './validate';

/**
 * Already-parsed manifest objects (the server's JSON body `{ items: […] }`) → drafts, by the same
 * rules as parseManifests. Throws `ValidationError` listing every issue, each with its field path
 * and the item's index as `document` (and `opts.file` when given); JSON carries no line/col.
 */
export function validateManifestObjects(items: readonly unknown[], opts: { file?: string } = {}): ServiceDraft[] {
  if (items.length === 0) throw new ValidationError([{ path: '', message: 'no manifests given (expected at least one item)', ...fileOf(opts) }]);
  const results = validateDocuments(items, (i) => `item ${i}`);
  const issues = results.flatMap((r, document) => r.problems.map((p) => toIssue(p, { ...fileOf(opts), document })));
  if (issues.length > 0) throw new ValidationError(issues);
  return results.map((r) => r.draft!);
}

const fileOf = (opts: { file?: string }): { file?: string } => (opts.file === undefined ? {} : { file: opts.file });

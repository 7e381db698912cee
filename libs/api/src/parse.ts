import { LineCounter, type Document } from 'yaml';
import { TooLargeError, ValidationError, formatMemory, type Issue, type ServiceDraft } from '@berth/core';
import { LIMITS, limitIssues } from './bounds';
import type { FieldProblem } from './cross-checks';
import { toIssue } from './issues';
import { Locator } from './locate';
import { runSync, runYielding, type Steps } from './steps';
import { validateEach } from './validate';
import { readYaml } from './yaml-read';

/** Largest manifest text accepted (all sources of one apply together), checked before parsing. */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

/** Refuses alias bombs: expanding more aliases than this per document is an error. */
const MAX_ALIAS_COUNT = 100;

/** One manifest file as the CLI read it (or `-` for stdin) and sends it to the server. */
export interface ManifestSource {
  readonly file: string;
  readonly text: string;
}

/** One YAML document of one source, with what is needed to report positions in it. */
interface SourceDocument {
  readonly file: string;
  readonly index: number;
  readonly locator: Locator;
  readonly value: unknown;
  readonly yamlProblems: readonly (FieldProblem & { offset: number })[];
}

/**
 * YAML text(s) → validated drafts, in source and document order. Throws `TooLargeError` when the
 * texts exceed MAX_MANIFEST_BYTES, else `ValidationError` listing every issue found, each with
 * file, 1-based line/col, field path and the document's 0-based index in its file.
 */
export function parseManifests(sources: readonly ManifestSource[]): ServiceDraft[] {
  return runSync(parseSteps(sources));
}

/** parseManifests giving the event loop a turn every few milliseconds (the server's: steps.ts). */
export function parseManifestsYielding(sources: readonly ManifestSource[]): Promise<ServiceDraft[]> {
  return runYielding(parseSteps(sources));
}

function* parseSteps(sources: readonly ManifestSource[]): Steps<ServiceDraft[]> {
  refuseOversized(sources);
  const issues: Issue[] = [];
  const documents: SourceDocument[] = [];
  for (const source of sources) {
    const docs = yield* readDocuments(source);
    if ('refused' in docs) issues.push(docs.refused);
    else if (docs.length === 0) issues.push({ path: '', message: 'contains no documents (expected a Service manifest)', file: source.file, line: 1, col: 1 });
    else documents.push(...docs);
  }
  if (sources.length === 0) issues.push({ path: '', message: 'no manifests given' });
  if (documents.length > LIMITS.documents) {
    issues.push({ path: '', message: `the manifests have ${documents.length} documents together; one apply may have at most ${LIMITS.documents} (apply them in several steps)` });
  }
  if (issues.length > 0) throw new ValidationError(limitIssues(sortIssues(issues, sources)));
  const results = yield* validateEach(
    documents.map((d) => d.value),
    (i) => `${documents[i]!.file} document ${documents[i]!.index}`,
  );
  // Only the issues that will be listed are located (locating costs a walk of the document).
  let unlisted = 0;
  results.forEach((result, i) => {
    const room = Math.max(0, LIMITS.issues - issues.length);
    issues.push(...documentIssues(documents[i]!, result.problems.slice(0, room)));
    unlisted += Math.max(0, result.problems.length - room) + (result.unlisted ?? 0);
  });
  if (issues.length > 0 || unlisted > 0) throw new ValidationError(limitIssues(sortIssues(issues, sources), unlisted));
  return results.map((r) => r.draft!);
}

function documentIssues(doc: SourceDocument, problems: readonly FieldProblem[]): Issue[] {
  const at = (p: FieldProblem, offset?: number): Issue =>
    toIssue(p, {
      file: doc.file,
      document: doc.index,
      position: offset === undefined ? doc.locator.locate(p.path, p.onKey) : doc.locator.position(offset),
    });
  const yamlIssues = doc.yamlProblems.map((p) => at(p, p.offset));
  // A document YAML could not read is not validated further: its content would be a guess.
  return doc.value === UNREADABLE ? yamlIssues : [...yamlIssues, ...problems.map((p) => at(p))];
}

function refuseOversized(sources: readonly ManifestSource[]): void {
  const sizes = sources.map((s) => Buffer.byteLength(s.text, 'utf8'));
  const total = sizes.reduce((a, b) => a + b, 0);
  if (total <= MAX_MANIFEST_BYTES) return;
  const limit = formatMemory(MAX_MANIFEST_BYTES);
  const single = sources.findIndex((_, i) => sizes[i]! > MAX_MANIFEST_BYTES);
  throw new TooLargeError(
    single >= 0
      ? `${sources[single]!.file} is ${sizes[single]} bytes; a manifest may be at most ${limit} (split it into several files)`
      : `the manifests are ${total} bytes together; one apply may send at most ${limit} (apply them in several steps)`,
  );
}

const UNREADABLE = Symbol('unreadable');

function* readDocuments(source: ManifestSource): Steps<SourceDocument[] | { refused: Issue }> {
  const lines = new LineCounter();
  const docs = yield* readYaml(source.text, lines);
  if (!Array.isArray(docs)) {
    const at = docs.offset > 0 ? lines.linePos(docs.offset) : { line: 1, col: 1 };
    return { refused: { path: '', message: docs.message, file: source.file, line: at.line, col: at.col } };
  }
  return docs.map((doc, index) => {
    const locator = new Locator(doc, lines);
    const yamlProblems = [...doc.errors, ...doc.warnings].map((e) => yamlProblem(e.code, e.message, e.pos[0], locator));
    const fatal = doc.errors.some((e) => e.code !== 'DUPLICATE_KEY');
    const value = fatal ? UNREADABLE : toValue(doc, yamlProblems);
    return { file: source.file, index, locator, value, yamlProblems };
  });
}

function yamlProblem(code: string, message: string, offset: number, locator: Locator): FieldProblem & { offset: number } {
  if (code === 'DUPLICATE_KEY') {
    return { path: locator.pathAt(offset), message: 'is given twice in the same mapping (each key may appear once)', offset };
  }
  return { path: [], message: `invalid YAML: ${message}`, offset };
}

function toValue(doc: Document, problems: (FieldProblem & { offset: number })[]): unknown {
  try {
    return doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (e) {
    // yaml throws ReferenceError for alias bombs and for aliases to undefined anchors.
    const reason = e instanceof ReferenceError && /alias count/.test(e.message)
      ? `expands more than ${MAX_ALIAS_COUNT} aliases (refused as a resource-exhaustion attack)`
      : (e as Error).message;
    problems.push({ path: [], message: `invalid YAML: ${reason}`, offset: doc.range?.[0] ?? 0 });
    return UNREADABLE;
  }
}

function sortIssues(issues: readonly Issue[], sources: readonly ManifestSource[]): Issue[] {
  const order = new Map(sources.map((s, i) => [s.file, i]));
  const key = (i: Issue): number[] => [order.get(i.file ?? '') ?? -1, i.line ?? 0, i.col ?? 0];
  return [...issues].sort((a, b) => {
    const [x, y] = [key(a), key(b)];
    return x[0]! - y[0]! || x[1]! - y[1]! || x[2]! - y[2]!;
  });
}

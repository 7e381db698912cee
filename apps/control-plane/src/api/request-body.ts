import { LIMITS } from '@berth/api';
import { type Issue, labelKeyProblem, labelValueProblem, MAX_REPLICAS, type NodeAvailability, ValidationError } from '@berth/core';

/** A manifest as a request carries it: YAML texts (issues get file:line:col) or JSON objects. */
export type ManifestInput =
  | { readonly kind: 'sources'; readonly sources: readonly { file: string; text: string }[] }
  | { readonly kind: 'items'; readonly items: readonly unknown[] };

/** The file name issues carry when the manifest was the raw request body. */
export const REQUEST_FILE = '<request>';

/** Files per apply: each holds at least one document, and an apply at most LIMITS.documents of them (docs/api.md). */
const MAX_SOURCES = 1000;

const invalid = (path: string, message: string): ValidationError => new ValidationError([{ path, message }]);

function readSources(value: unknown): ManifestInput {
  if (!Array.isArray(value)) throw invalid('sources', 'must be an array of { file, text }');
  if (value.length > MAX_SOURCES) throw invalid('sources', `has ${value.length} files; one apply may send at most ${MAX_SOURCES}`);
  const issues: Issue[] = [];
  value.forEach((s: unknown, i) => {
    const src = s as { file?: unknown; text?: unknown } | null;
    if (typeof src !== 'object' || src === null) issues.push({ path: `sources[${i}]`, message: 'must be an object { file, text }' });
    else if (typeof src.file !== 'string') issues.push({ path: `sources[${i}].file`, message: 'must be a string' });
    else if (typeof src.text !== 'string') issues.push({ path: `sources[${i}].text`, message: 'must be a string' });
  });
  if (issues.length > 0) throw new ValidationError(issues);
  return { kind: 'sources', sources: value as { file: string; text: string }[] };
}

/**
 * Reads an apply/diff body: a string (raw YAML, from the application/yaml parser),
 * `{ sources: [{file, text}] }` or `{ items: [...] }`. Throws ValidationError for anything else.
 */
export function readManifestInput(body: unknown): ManifestInput {
  if (typeof body === 'string') return { kind: 'sources', sources: [{ file: REQUEST_FILE, text: body }] };
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw invalid('', 'body must be { "sources": [...] }, { "items": [...] } or a YAML manifest (Content-Type: application/yaml)');
  }
  const keys = Object.keys(body);
  const unknown = keys.filter((k) => k !== 'sources' && k !== 'items');
  if (unknown.length > 0) throw invalid(unknown[0]!, 'is not a known field (expected "sources" or "items")');
  const { sources, items } = body as { sources?: unknown; items?: unknown };
  if (sources !== undefined && items !== undefined) throw invalid('', 'give either "sources" or "items", not both');
  if (sources !== undefined) return readSources(sources);
  if (items === undefined) throw invalid('', 'body must have "sources" or "items"');
  if (!Array.isArray(items)) throw invalid('items', 'must be an array of manifests');
  return { kind: 'items', items };
}

/** `?dryRun=true|false` (absent = false). */
export function readDryRun(value: unknown): boolean {
  if (value === undefined || value === 'false') return false;
  if (value === 'true' || value === '') return true;
  throw invalid('dryRun', `must be "true" or "false" (got ${JSON.stringify(value)})`);
}

/** The body of PUT /services/:name/scale: `{ replicas: 0..10000 }`. */
export function readReplicas(body: unknown): number {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw invalid('', 'body must be { "replicas": N }');
  const extra = Object.keys(body).filter((k) => k !== 'replicas');
  if (extra.length > 0) throw invalid(extra[0]!, 'is not a known field (expected "replicas")');
  const { replicas } = body as { replicas?: unknown };
  if (typeof replicas !== 'number' || !Number.isInteger(replicas) || replicas < 0 || replicas > MAX_REPLICAS) {
    throw invalid('replicas', `must be an integer from 0 to ${MAX_REPLICAS} (got ${JSON.stringify(replicas) ?? 'nothing'})`);
  }
  return replicas;
}

const AVAILABILITIES: readonly NodeAvailability[] = ['active', 'pause', 'drain'];

/** The body of PUT /nodes/:name/availability: `{ availability: "active" | "pause" | "drain" }`. */
export function readAvailability(body: unknown): NodeAvailability {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw invalid('', 'body must be { "availability": "active" | "pause" | "drain" }');
  const extra = Object.keys(body).filter((k) => k !== 'availability');
  if (extra.length > 0) throw invalid(extra[0]!, 'is not a known field (expected "availability")');
  const { availability } = body as { availability?: unknown };
  if (!AVAILABILITIES.includes(availability as NodeAvailability)) {
    throw invalid('availability', `must be "active", "pause" or "drain" (got ${JSON.stringify(availability) ?? 'nothing'})`);
  }
  return availability as NodeAvailability;
}

/** The body of POST /services/:name/rollout/undo: `{}` or `{ toRevision: N }` (N ≥ 1); no body at all is `{}`. */
export function readToRevision(body: unknown): number | undefined {
  if (body === undefined || body === null || body === '') return undefined;
  if (typeof body !== 'object' || Array.isArray(body)) throw invalid('', 'body must be {} or { "toRevision": N }');
  const extra = Object.keys(body).filter((k) => k !== 'toRevision');
  if (extra.length > 0) throw invalid(extra[0]!, 'is not a known field (expected "toRevision")');
  const { toRevision } = body as { toRevision?: unknown };
  if (toRevision === undefined) return undefined;
  if (typeof toRevision !== 'number' || !Number.isInteger(toRevision) || toRevision < 1) {
    throw invalid('toRevision', `must be a revision number ≥ 1 (got ${JSON.stringify(toRevision)})`);
  }
  return toRevision;
}

/** An operator's change of a node's labels: keys set to values, and keys removed. */
export interface LabelChange {
  readonly set: Readonly<Record<string, string>>;
  readonly remove: readonly string[];
}

/**
 * The body of PATCH /nodes/:name/labels: `{ set?: { KEY: VALUE }, remove?: [KEY] }`, at least one
 * change, each key and value valid (the manifest's label rules) and no key both set and removed.
 */
export function readLabelChange(body: unknown): LabelChange {
  const shape = 'body must be { "set": { "KEY": "VALUE" }, "remove": ["KEY"] }';
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw invalid('', shape);
  const extra = Object.keys(body).filter((k) => k !== 'set' && k !== 'remove');
  if (extra.length > 0) throw invalid(extra[0]!, 'is not a known field (expected "set" or "remove")');
  const { set = {}, remove = [] } = body as { set?: unknown; remove?: unknown };
  if (typeof set !== 'object' || set === null || Array.isArray(set)) throw invalid('set', 'must be an object of label keys to values');
  if (!Array.isArray(remove)) throw invalid('remove', 'must be a list of label keys');
  const changes = Object.keys(set).length + remove.length;
  if (changes > LIMITS.labels) throw invalid('', `has ${changes} label changes; at most ${LIMITS.labels} at once (a node, like a service, has at most ${LIMITS.labels} labels)`);
  const issues: Issue[] = [];
  for (const [key, value] of Object.entries(set)) {
    const why = labelKeyProblem(key) ?? (typeof value === 'string' ? labelValueProblem(value) : `must be a string (got ${JSON.stringify(value)})`);
    if (why) issues.push({ path: `set.${key}`, message: why });
  }
  remove.forEach((key: unknown, i) => {
    const why = typeof key === 'string' ? labelKeyProblem(key) : 'must be a label key';
    if (why) issues.push({ path: `remove[${i}]`, message: why });
    else if (Object.hasOwn(set, key as string)) issues.push({ path: `remove[${i}]`, message: `"${String(key)}" is both set and removed` });
  });
  if (issues.length === 0 && Object.keys(set).length === 0 && remove.length === 0) issues.push({ path: '', message: `no change given: ${shape}` });
  if (issues.length > 0) throw new ValidationError(issues);
  return { set: set as Record<string, string>, remove: remove as string[] };
}

/** `?force=true|false` (absent = false). */
export function readForce(value: unknown): boolean {
  if (value === undefined || value === 'false') return false;
  if (value === 'true' || value === '') return true;
  throw invalid('force', `must be "true" or "false" (got ${JSON.stringify(value)})`);
}

/** `?without=n1,n2`: one or more node names, comma-separated (repeating the parameter also works). */
export function readNodeList(value: unknown): string[] {
  const parts = (Array.isArray(value) ? value : [value]).flatMap((v) => (typeof v === 'string' ? v.split(',') : []));
  const names = [...new Set(parts.map((n) => n.trim()).filter((n) => n !== ''))];
  if (names.length === 0) throw invalid('without', 'name at least one node: ?without=n1[,n2…]');
  return names;
}

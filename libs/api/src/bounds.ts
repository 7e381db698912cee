import { formatDuration, parseCpu, parseDuration, parseMemory, type Issue } from '@berth/core';
import type { FieldProblem } from './cross-checks';
import { describeValue, isMapping, type PathSegment } from './rules';

/**
 * Sizes a manifest may have (docs/api.md, "Limits"). They keep one task record (which carries
 * its template) far below etcd's default request limit of 1.5 MiB and one assignment far below
 * a session message part (docs/agent-protocol.md), and keep the work of validating one request
 * linear and small, whatever it holds.
 */
export const LIMITS = {
  /** Documents (YAML) or items (JSON) per apply. */
  documents: 1000,
  /** Issues listed in one answer; the rest are counted in one last line. */
  issues: 100,
  /** Any mapping key. 253: the longest label key (DNS prefix + "/" + name). */
  keyChars: 253,
  /** Any string value, in UTF-8 bytes. */
  stringBytes: 64 * 1024,
  /** Entries of any one mapping or list. */
  entries: 1000,
  /** Nesting of mappings and lists. */
  depth: 16,
  /** env: variables, and all names and values together in bytes. */
  envVars: 1000,
  envBytes: 128 * 1024,
  /** command and healthCheck.exec: arguments, and all of them together in bytes. */
  args: 256,
  argsBytes: 128 * 1024,
  labels: 64,
  constraints: 64,
  ports: 256,
  volumes: 64,
  imageChars: 1024,
  pathChars: 4096,
  cmdlineChars: 2048,
  /** The whole template as JSON: what every task record of the service carries. */
  templateBytes: 512 * 1024,
  /** cpu in millicores (4096 cores) and memory in bytes (16 TiB). */
  cpuMillis: 4096 * 1000,
  memoryBytes: 16 * 1024 ** 4,
} as const;

const HOUR = 3_600_000;

/**
 * Longest durations: a day, for every duration of a manifest. Node's timers fire at once for
 * anything past 2^31-1 ms (24.8 days) and the agent protocol carries durations as uint32
 * milliseconds (49.7 days), so no duration may come near either; a day is longer than any
 * sensible check interval, restart delay, rollout pause or stop grace period (which a drain waits for).
 */
export const MAX_DURATIONS: readonly { readonly path: readonly string[]; readonly maxMs: number }[] = [
  ...['interval', 'timeout', 'startPeriod'].map((f) => ({ path: ['spec', 'template', 'healthCheck', f], maxMs: 24 * HOUR })),
  { path: ['spec', 'template', 'stopGracePeriod'], maxMs: 24 * HOUR },
  ...['delay', 'maxDelay'].map((f) => ({ path: ['spec', 'restartPolicy', f], maxMs: 24 * HOUR })),
  ...['update', 'rollback'].flatMap((s) => ['delay', 'monitor'].map((f) => ({ path: ['spec', s, f], maxMs: 24 * HOUR }))),
];

/** Integer fields whose validation allows any safe integer: capped so they mean something. */
const MAX_INTEGERS: readonly { readonly path: readonly string[]; readonly max: number }[] = [
  { path: ['spec', 'restartPolicy', 'maxAttempts'], max: 2 ** 31 - 1 },
  { path: ['spec', 'update', 'parallelism'], max: 10_000 },
  { path: ['spec', 'rollback', 'parallelism'], max: 10_000 },
  { path: ['spec', 'placement', 'maxPerNode'], max: 10_000 },
];

const count = (n: number): string => n.toLocaleString('en-US');

/** A key or string shown in a message: at most 40 characters of it. */
export function echo(text: string): string {
  return JSON.stringify(text.length > 40 ? `${text.slice(0, 37)}...` : text);
}

/**
 * The shape every document must have before any rule looks at it: no key, string, mapping or list
 * larger than LIMITS allow, nesting at most LIMITS.depth. One walk, linear in the document; a
 * document with problems here is not validated further (its content could make the rules slow).
 */
export function shapeProblems(value: unknown): FieldProblem[] {
  const out: FieldProblem[] = [];
  const walk = (v: unknown, at: PathSegment[]): void => {
    if (out.length >= LIMITS.issues) return;
    if (typeof v === 'string') {
      if (v.length > LIMITS.stringBytes / 4 && Buffer.byteLength(v, 'utf8') > LIMITS.stringBytes) {
        out.push({ path: at, message: `is ${count(Buffer.byteLength(v, 'utf8'))} bytes; a string may have at most ${count(LIMITS.stringBytes)} (64 KiB)` });
      }
      return;
    }
    const isList = Array.isArray(v);
    if (!isList && !isMapping(v)) return;
    if (at.length >= LIMITS.depth) {
      out.push({ path: at, message: `nests deeper than ${LIMITS.depth} levels` });
      return;
    }
    const keys = isList ? [] : Object.keys(v);
    const size = isList ? v.length : keys.length;
    if (size > LIMITS.entries) {
      out.push({ path: at, message: `has ${count(size)} ${isList ? 'items' : 'entries'}; at most ${count(LIMITS.entries)} are allowed` });
      return;
    }
    if (isList) {
      v.forEach((item, i) => walk(item, [...at, i]));
      return;
    }
    for (const key of keys) {
      if (key.length > LIMITS.keyChars) {
        out.push({ path: [...at, key], message: `is a key of ${count(key.length)} characters; keys have at most ${LIMITS.keyChars} (got ${echo(key)})`, onKey: true });
      } else {
        walk(v[key], [...at, key]);
      }
    }
  };
  walk(value, []);
  return out;
}

/**
 * Per-field limits on a document of a valid shape: sizes (LIMITS), longest durations
 * (MAX_DURATIONS) and integer ranges. Only fields of the right type are looked at, so a field the
 * per-field rules refuse is reported once.
 */
export function boundsProblems(doc: Record<string, unknown>): FieldProblem[] {
  const out: FieldProblem[] = [];
  const metadata = doc['metadata'];
  if (isMapping(metadata)) out.push(...countProblem(metadata['labels'], ['metadata', 'labels'], LIMITS.labels, 'labels'));
  const spec = doc['spec'];
  if (!isMapping(spec)) return out;
  const placement = spec['placement'];
  if (isMapping(placement)) out.push(...countProblem(placement['constraints'], ['spec', 'placement', 'constraints'], LIMITS.constraints, 'constraints'));
  for (const { path, maxMs } of MAX_DURATIONS) {
    const value = at(doc, path);
    const parsed = parseDuration(value);
    if (parsed.ok && parsed.value > maxMs) out.push({ path, message: `must be at most ${formatDuration(maxMs)} (got ${describeValue(value)})` });
  }
  for (const { path, max } of MAX_INTEGERS) {
    const value = at(doc, path);
    if (Number.isSafeInteger(value) && (value as number) > max) out.push({ path, message: `must be at most ${count(max)} (got ${String(value)})` });
  }
  const template = spec['template'];
  if (isMapping(template)) out.push(...templateBounds(template));
  return out;
}

function templateBounds(t: Record<string, unknown>): FieldProblem[] {
  const base = ['spec', 'template'];
  const out: FieldProblem[] = [];
  const env = t['env'];
  if (isMapping(env)) {
    out.push(...countProblem(env, [...base, 'env'], LIMITS.envVars, 'variables'));
    const bytes = Object.entries(env).reduce((n, [k, v]) => n + k.length + (typeof v === 'string' ? Buffer.byteLength(v, 'utf8') : 0) + 2, 0);
    if (bytes > LIMITS.envBytes) out.push({ path: [...base, 'env'], message: `is ${count(bytes)} bytes (names and values); at most ${count(LIMITS.envBytes)} (128 KiB) are allowed` });
  }
  out.push(...argsProblems(t['command'], [...base, 'command']));
  const health = t['healthCheck'];
  if (isMapping(health)) {
    out.push(...argsProblems(health['exec'], [...base, 'healthCheck', 'exec']));
    const http = health['http'];
    if (isMapping(http)) out.push(...lengthProblem(http['path'], [...base, 'healthCheck', 'http', 'path'], LIMITS.pathChars));
  }
  out.push(...countProblem(t['ports'], [...base, 'ports'], LIMITS.ports, 'ports'));
  out.push(...countProblem(t['volumes'], [...base, 'volumes'], LIMITS.volumes, 'volumes'));
  out.push(...volumePathProblems(t['volumes'], [...base, 'volumes']));
  out.push(...lengthProblem(t['image'], [...base, 'image'], LIMITS.imageChars));
  const vm = t['vm'];
  if (isMapping(vm)) {
    out.push(...lengthProblem(vm['kernel'], [...base, 'vm', 'kernel'], LIMITS.pathChars));
    out.push(...lengthProblem(vm['disk'], [...base, 'vm', 'disk'], LIMITS.pathChars));
    out.push(...lengthProblem(vm['cmdline'], [...base, 'vm', 'cmdline'], LIMITS.cmdlineChars));
  }
  out.push(...resourceBounds(t['resources'], [...base, 'resources']));
  if (out.length === 0) {
    const bytes = Buffer.byteLength(JSON.stringify(t), 'utf8');
    if (bytes > LIMITS.templateBytes) out.push({ path: base, message: `is ${count(bytes)} bytes as JSON; a template may have at most ${count(LIMITS.templateBytes)} (512 KiB), since every task carries it` });
  }
  return out;
}

function resourceBounds(resources: unknown, path: PathSegment[]): FieldProblem[] {
  if (!isMapping(resources)) return [];
  const out: FieldProblem[] = [];
  const cpu = parseCpu(resources['cpu']);
  if (cpu.ok && cpu.value > LIMITS.cpuMillis) out.push({ path: [...path, 'cpu'], message: `must be at most ${LIMITS.cpuMillis / 1000} cores (got ${describeValue(resources['cpu'])})` });
  const memory = parseMemory(resources['memory']);
  if (memory.ok && memory.value > LIMITS.memoryBytes) out.push({ path: [...path, 'memory'], message: `must be at most 16Ti (got ${describeValue(resources['memory'])})` });
  return out;
}

/** A mount path that normalises to "/" (`//`, `/./`, `/a/..`) would hide the task's whole root. */
function volumePathProblems(volumes: unknown, path: PathSegment[]): FieldProblem[] {
  if (!Array.isArray(volumes)) return [];
  return volumes.flatMap((v: unknown, i) => {
    const mountPath = isMapping(v) ? v['mountPath'] : undefined;
    if (typeof mountPath !== 'string') return [];
    if (mountPath.length > LIMITS.pathChars) return lengthProblem(mountPath, [...path, i, 'mountPath'], LIMITS.pathChars);
    if (!mountPath.startsWith('/') || mountPath === '/' || mountPath.split('/').includes('..')) return []; // the rule says why
    const parts = mountPath.split('/').filter((p) => p !== '' && p !== '.');
    return parts.length === 0 ? [{ path: [...path, i, 'mountPath'], message: `must not be the root directory (got ${echo(mountPath)}, which is "/")` }] : [];
  });
}

function argsProblems(value: unknown, path: PathSegment[]): FieldProblem[] {
  if (!Array.isArray(value)) return [];
  if (value.length > LIMITS.args) return [{ path, message: `has ${count(value.length)} arguments; at most ${LIMITS.args} are allowed` }];
  const bytes = value.reduce((n: number, a: unknown) => n + (typeof a === 'string' ? Buffer.byteLength(a, 'utf8') + 1 : 0), 0);
  return bytes > LIMITS.argsBytes ? [{ path, message: `is ${count(bytes)} bytes; the arguments together may have at most ${count(LIMITS.argsBytes)} (128 KiB)` }] : [];
}

function countProblem(value: unknown, path: PathSegment[], max: number, what: string): FieldProblem[] {
  const n = Array.isArray(value) ? value.length : isMapping(value) ? Object.keys(value).length : 0;
  return n > max ? [{ path, message: `has ${count(n)} ${what}; at most ${max} are allowed` }] : [];
}

function lengthProblem(value: unknown, path: PathSegment[], max: number): FieldProblem[] {
  return typeof value === 'string' && value.length > max ? [{ path, message: `is ${count(value.length)} characters; at most ${count(max)} are allowed (got ${echo(value)})` }] : [];
}

function at(doc: unknown, path: readonly string[]): unknown {
  let v = doc;
  for (const seg of path) v = isMapping(v) ? v[seg] : undefined;
  return v;
}

/**
 * At most LIMITS.issues issues, and when some were left out (`more` counts those never located,
 * too), one last issue saying how many: "… and 1,389,990 more problems".
 */
export function limitIssues(issues: readonly Issue[], more = 0): Issue[] {
  const rest = Math.max(0, issues.length - LIMITS.issues) + more;
  const listed = issues.slice(0, LIMITS.issues);
  return rest === 0 ? listed : [...listed, { path: '', message: `… and ${count(rest)} more problem${rest === 1 ? '' : 's'} (only the first ${LIMITS.issues} are listed)` }];
}

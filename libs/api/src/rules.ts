import {
  labelKeyProblem,
  labelValueProblem,
  normaliseCapability,
  parseConstraint,
  parseSpreadBy,
  parseCpu,
  parseDuration,
  parseMemory,
  serviceNameProblem,
} from '@berth/core';
import { imageProblem } from './image-ref';

/** A field path segment: a mapping key or a list index. */
export type PathSegment = string | number;

/**
 * One thing wrong with a value. `at` descends below the checked field (e.g. into one env entry);
 * `onKey` says the position to report is that entry's key rather than its value.
 */
export interface Problem {
  readonly message: string;
  readonly at?: readonly PathSegment[];
  readonly onKey?: boolean;
}

/** A pure value check: no problems means the value is acceptable. */
export type Rule = (value: unknown) => readonly Problem[];

const fine: readonly Problem[] = [];
const problem = (message: string, at?: readonly PathSegment[], onKey?: boolean): Problem[] => [
  { message, ...(at ? { at } : {}), ...(onKey ? { onKey } : {}) },
];

/** Renders an offending value for a message: strings quoted, collections named. */
export function describeValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value);
  if (value === null || value === undefined) return 'nothing';
  if (Array.isArray(value)) return value.length === 0 ? 'an empty list' : 'a list';
  if (value instanceof Uint8Array) return 'binary data';
  if (typeof value === 'object') return 'a mapping';
  return String(value);
}

export function isMapping(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array);
}

const absent = (value: unknown): boolean => value === undefined || value === null;

/** Fails on a missing value with "is required", otherwise defers to `rule`. */
export function required(rule: Rule): Rule {
  return (value) => (absent(value) ? problem('is required') : rule(value));
}

export const mapping: Rule = (value) => (isMapping(value) ? fine : problem(`must be a mapping (got ${describeValue(value)})`));

export const boolean: Rule = (value) => (typeof value === 'boolean' ? fine : problem(`must be true or false (got ${describeValue(value)})`));

export const list: Rule = (value) => (Array.isArray(value) ? fine : problem(`must be a list (got ${describeValue(value)})`));

export function exactly(want: string): Rule {
  return (value) => (value === want ? fine : problem(`must be "${want}" (got ${describeValue(value)})`));
}

export function oneOf(choices: readonly string[]): Rule {
  const accepted = choices.map((c) => `"${c}"`).join(', ');
  return (value) =>
    typeof value === 'string' && choices.includes(value) ? fine : problem(`must be one of ${accepted} (got ${describeValue(value)})`);
}

export function integerIn(min: number, max = Number.MAX_SAFE_INTEGER): Rule {
  const range = max === Number.MAX_SAFE_INTEGER ? `≥ ${min}` : `between ${min} and ${max}`;
  return (value) =>
    Number.isSafeInteger(value) && (value as number) >= min && (value as number) <= max
      ? fine
      : problem(`must be an integer ${range} (got ${describeValue(value)})`);
}

/** A fraction: a number from 0 to 1, both included (`maxFailureRatio`). */
export const ratio: Rule = (value) =>
  typeof value === 'number' && value >= 0 && value <= 1 ? fine : problem(`must be a number between 0 and 1 (got ${describeValue(value)})`);

/** A rollback's failureAction: what to do when the rollback itself fails; it cannot roll back again. */
export const rollbackFailureAction: Rule = (value) =>
  value === 'rollback'
    ? problem('cannot be "rollback": a rollback cannot itself roll back; use "pause" or "continue"')
    : oneOf(['pause', 'continue'])(value);

/** The core parsers explain the accepted forms for malformed text; add them where they do not. */
const fromParsed = (parsed: { ok: true } | { ok: false; reason: string }, accepted: string): readonly Problem[] => {
  if (parsed.ok) return fine;
  const explained = parsed.reason.includes('(use ') || parsed.reason.includes(' like ');
  return problem(explained ? parsed.reason : `${parsed.reason}; ${accepted}`);
};

export const cpu: Rule = (value) => fromParsed(parseCpu(value), 'use cores like 0.5 or millicores like "500m"');

export const memory: Rule = (value) => fromParsed(parseMemory(value), 'use bytes or a suffix like "64Mi" or "1Gi"');

export const duration: Rule = (value) => fromParsed(parseDuration(value), 'use e.g. "500ms", "5s" or "1m"');

/** A duration that must be longer than zero (intervals and timeouts). */
export const positiveDuration: Rule = (value) => {
  const parsed = parseDuration(value);
  if (parsed.ok && parsed.value === 0) return problem(`must be longer than 0 (got ${describeValue(value)})`);
  return duration(value);
};

export const serviceName: Rule = (value) => {
  if (typeof value !== 'string') return problem(`must be a string (got ${describeValue(value)})`);
  const why = serviceNameProblem(value);
  return why ? problem(why) : fine;
};

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

export const volumeName: Rule = (value) =>
  typeof value === 'string' && value.length <= 63 && DNS1123_LABEL.test(value)
    ? fine
    : problem(`must be a DNS-1123 label: lowercase letters, digits and "-", at most 63 characters (got ${describeValue(value)})`);

export const absolutePath: Rule = (value) => {
  if (typeof value !== 'string' || !value.startsWith('/')) {
    return problem(`must be an absolute path like "/data" (got ${describeValue(value)})`);
  }
  if (value === '/' || value.split('/').includes('..')) {
    return problem(`must be an absolute path below "/" without ".." (got ${describeValue(value)})`);
  }
  return fine;
};

/** `vm.kernel`: "default" (the node's newest /boot/vmlinuz-*) or the absolute path of a kernel image on the nodes. */
export const vmKernel: Rule = (value) =>
  value === 'default' ? fine : typeof value === 'string' && value.startsWith('/') ? absolutePath(value) : problem(`must be "default" or the absolute path of a kernel image on the nodes, like "/boot/vmlinuz-6.1.0-57-amd64" (got ${describeValue(value)})`);

/** An http health check's path: absolute, with an optional query; no spaces or control characters (it goes on the request line). */
/** `vm.disk`: a disk image (qcow2 or raw, told apart on the node) by its absolute path on the nodes. */
export const vmDisk: Rule = (value) =>
  typeof value === 'string' && value.startsWith('/') ? absolutePath(value) : problem(`must be the absolute path of a disk image (qcow2 or raw) on the nodes, like "/var/lib/images/debian-12.qcow2" (got ${describeValue(value)})`);

/** `vm.cmdline`: kernel arguments, one line. */
export const kernelCmdline: Rule = (value) =>
  typeof value === 'string' && value.trim() !== '' && !/[\n\r\0]/.test(value)
    ? fine
    : problem(`must be kernel arguments on one line, like "quiet root=/dev/vda1" (got ${describeValue(value)})`);

export const httpPath: Rule = (value) =>
  typeof value === 'string' && /^\/[\x21-\x7e]*$/.test(value)
    ? fine
    : problem(`must be a path starting with "/", like "/healthz", without spaces (got ${describeValue(value)})`);

/** Strings in YAML may come out as numbers or booleans; say how to keep them as text. */
const notString = (value: unknown): string =>
  typeof value === 'number' || typeof value === 'boolean'
    ? `must be a string (got ${describeValue(value)}; quote it: "${String(value)}")`
    : `must be a string (got ${describeValue(value)})`;

export function stringList(what: string): Rule {
  return (value) => {
    if (!Array.isArray(value) || value.length === 0) {
      return problem(`must be a non-empty list of strings, like ${what} (got ${describeValue(value)})`);
    }
    return value.flatMap((item, i) => (typeof item === 'string' ? [] : problem(notString(item), [i])));
  };
}

export function stringMap(keyProblem: (key: string) => string | undefined, valueProblem: (v: string) => string | undefined): Rule {
  return (value) => {
    if (!isMapping(value)) return problem(`must be a mapping of names to strings (got ${describeValue(value)})`);
    return Object.entries(value).flatMap(([key, v]) => {
      const badKey = keyProblem(key);
      if (badKey) return problem(badKey, [key], true);
      if (typeof v !== 'string') return problem(notString(v), [key]);
      const badValue = valueProblem(v);
      return badValue ? problem(badValue, [key]) : [];
    });
  };
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export const env: Rule = stringMap(
  (key) => (ENV_NAME.test(key) ? undefined : `${JSON.stringify(key)} is not a valid variable name (letters, digits and "_", not starting with a digit)`),
  () => undefined,
);

export const labels: Rule = stringMap(labelKeyProblem, labelValueProblem);

export const resourceVersion: Rule = (value) =>
  typeof value === 'string' && /^\d+$/.test(value)
    ? fine
    : problem(`must be a resourceVersion string as returned by the API, like "42" (got ${describeValue(value)})`);

export const image: Rule = (value) => {
  if (typeof value !== 'string') return problem(`must be a string (got ${describeValue(value)})`);
  const why = imageProblem(value);
  return why ? problem(why) : fine;
};

/** Placement constraints: a list of `node.labels.KEY ==|!= VALUE` or `node.name ==|!= NAME`. */
export const constraints: Rule = (value) => {
  if (!Array.isArray(value)) return problem(`must be a list of constraints like "node.labels.zone == a" (got ${describeValue(value)})`);
  return value.flatMap((item, i) => {
    if (typeof item !== 'string') return problem(notString(item), [i]);
    const parsed = parseConstraint(item);
    if (!parsed.ok) return problem(parsed.reason, [i]);
    const c = parsed.value;
    const why = (c.attribute.kind === 'label' ? labelKeyProblem(c.attribute.key) : undefined) ?? labelValueProblem(c.value);
    return why ? problem(why, [i]) : [];
  });
};

/** `placement.spreadBy`: one node label to spread tasks across the values of, `node.labels.KEY`. */
export const spreadBy: Rule = (value) => {
  if (typeof value !== 'string') return problem(`must be a node label like "node.labels.zone" (got ${describeValue(value)})`);
  const parsed = parseSpreadBy(value);
  if (!parsed.ok) return problem(parsed.reason);
  const why = labelKeyProblem(parsed.value);
  return why ? problem(why) : fine;
};

/** `securityContext.capabilities.add`: Linux capability names, with or without `CAP_`, in any case. */
export const capabilityList: Rule = (value) => {
  if (!Array.isArray(value)) return problem(`must be a list of capabilities like [NET_BIND_SERVICE] (got ${describeValue(value)})`);
  return value.flatMap((item, i) => {
    if (typeof item !== 'string') return problem(notString(item), [i]);
    return normaliseCapability(item)
      ? []
      : problem(`${describeValue(item)} is not a Linux capability (use a name like "NET_BIND_SERVICE" or "CAP_NET_BIND_SERVICE")`, [i]);
  });
};

/** A field whose meaning exists but whose implementation does not yet: refused whatever its value, never ignored. */
export function notSupportedYet(why: string): Rule {
  return () => problem(`is not supported yet: ${why}`);
}

/** `securityContext.privileged`: a boolean (true is applied only with an admin token, which the server checks). */
export const privileged: Rule = (value) => boolean(value);

/** One sample of a Prometheus text exposition: `name{k="v",…} value [timestamp]`. */
export interface PromSample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  /** NaN, +Inf and -Inf as written. */
  readonly value: number;
  /** Milliseconds since the epoch, when the line carries one. */
  readonly timestampMs?: number;
}

/** A line that is not a sample: its 1-based line number and what is wrong with it. */
export class PromTextError extends Error {
  constructor(
    readonly line: number,
    reason: string,
  ) {
    super(`line ${line}: ${reason}`);
  }
}

const NAME = /[a-zA-Z_:][a-zA-Z0-9_:]*/y;
const LABEL_NAME = /[a-zA-Z_][a-zA-Z0-9_]*/y;
const SPACE = /[ \t]*/y;
const FLOAT = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
const ESCAPES: Readonly<Record<string, string>> = { '\\': '\\', '"': '"', n: '\n' };

/**
 * Parses the Prometheus text format (version 0.0.4), as an agent's `/metrics` serves it: `#` lines
 * (HELP, TYPE, comments) and blank lines are skipped; label values unescape `\\`, `\"` and `\n`.
 * With `only`, samples of other metric names are skipped without being read further (a malformed
 * line of a family nobody asked for does not fail the parse). Pure. Throws PromTextError.
 */
export function parsePromText(text: string, only?: ReadonlySet<string>): PromSample[] {
  const samples: PromSample[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.replace(/\r$/, '');
    const start = skip(SPACE, line, 0);
    if (start === line.length || line[start] === '#') continue;
    const sample = parseLine(line, start, i + 1, only);
    if (sample) samples.push(sample);
  }
  return samples;
}

function parseLine(line: string, start: number, n: number, only: ReadonlySet<string> | undefined): PromSample | undefined {
  const name = match(NAME, line, start);
  if (name === undefined) throw new PromTextError(n, `expected a metric name at column ${start + 1}`);
  if (only && !only.has(name)) return undefined;
  let at = start + name.length;
  let labels: Record<string, string> = {};
  if (line[at] === '{') [labels, at] = parseLabels(line, at + 1, n);
  const fields = line.slice(at).trim().split(/[ \t]+/);
  if (at === line.length || !/[ \t]/.test(line[at]!) || fields[0] === '' || fields.length > 2) {
    throw new PromTextError(n, `expected "${name}" to be followed by a value and at most a timestamp`);
  }
  const value = parseValue(fields[0]!);
  if (value === undefined) throw new PromTextError(n, `"${fields[0]}" is not a sample value`);
  if (fields.length === 1) return { name, labels, value };
  const timestampMs = Number(fields[1]);
  if (!Number.isInteger(timestampMs)) throw new PromTextError(n, `"${fields[1]}" is not a timestamp in milliseconds`);
  return { name, labels, value, timestampMs };
}

/** `k="v",…}` from just after the `{`: the labels, and where the line goes on after the `}`. */
function parseLabels(line: string, from: number, n: number): [Record<string, string>, number] {
  const labels: Record<string, string> = {};
  let at = skip(SPACE, line, from);
  while (line[at] !== '}') {
    const key = match(LABEL_NAME, line, at);
    if (key === undefined) throw new PromTextError(n, `expected a label name or "}" at column ${at + 1}`);
    at = skip(SPACE, line, at + key.length);
    if (line[at] !== '=') throw new PromTextError(n, `expected "=" after label "${key}"`);
    at = skip(SPACE, line, at + 1);
    if (line[at] !== '"') throw new PromTextError(n, `expected a quoted value for label "${key}"`);
    let value: string;
    [value, at] = parseQuoted(line, at + 1, n, key);
    labels[key] = value;
    at = skip(SPACE, line, at);
    if (line[at] === ',') at = skip(SPACE, line, at + 1);
    else if (line[at] !== '}') throw new PromTextError(n, `expected "," or "}" after label "${key}"`);
  }
  return [labels, at + 1];
}

/** A label value from just after its opening quote: the unescaped text, and where it ends (after the quote). */
function parseQuoted(line: string, from: number, n: number, key: string): [string, number] {
  let out = '';
  for (let at = from; at < line.length; at++) {
    const c = line[at]!;
    if (c === '"') return [out, at + 1];
    if (c !== '\\') {
      out += c;
      continue;
    }
    const escaped = ESCAPES[line[++at] ?? ''];
    if (escaped === undefined) throw new PromTextError(n, `label "${key}" has an unknown escape "\\${line[at] ?? ''}"`);
    out += escaped;
  }
  throw new PromTextError(n, `label "${key}" has no closing quote`);
}

function parseValue(text: string): number | undefined {
  if (text === 'NaN') return NaN;
  if (text === '+Inf' || text === 'Inf') return Infinity;
  if (text === '-Inf') return -Infinity;
  return FLOAT.test(text) ? Number(text) : undefined;
}

function match(re: RegExp, line: string, at: number): string | undefined {
  re.lastIndex = at;
  return re.exec(line)?.[0];
}

function skip(re: RegExp, line: string, at: number): number {
  return at + (match(re, line, at)?.length ?? 0);
}

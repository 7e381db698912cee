/**
 * Quantities as operators write them, parsed into integers the domain computes with.
 * Each parser returns the value or a reason it was refused — never throws — so callers can
 * attach the reason to a field position.
 */
export type Parsed<T> = { ok: true; value: T } | { ok: false; reason: string };

const ok = <T>(value: T): Parsed<T> => ({ ok: true, value });
const bad = <T>(reason: string): Parsed<T> => ({ ok: false, reason });

const DECIMAL = /^(\d+(?:\.\d+)?|\.\d+)$/;

/** CPU: cores (`1`, `0.5`, `"2"`) or millicores (`"500m"`) → millicores (integer, > 0). */
export function parseCpu(input: unknown): Parsed<number> {
  const text = typeof input === 'number' ? String(input) : input;
  if (typeof text !== 'string') return bad('must be a number of cores or a string like "500m"');
  const s = text.trim();
  let millis: number;
  if (s.endsWith('m') && /^\d+$/.test(s.slice(0, -1))) {
    millis = Number(s.slice(0, -1));
  } else if (DECIMAL.test(s)) {
    millis = Number(s) * 1000;
    if (!Number.isInteger(Math.round(millis * 1e6) / 1e6) || Math.abs(millis - Math.round(millis)) > 1e-9) {
      return bad(`"${text}" is finer than 1m (one millicore)`);
    }
    millis = Math.round(millis);
  } else {
    return bad(`"${text}" is not a cpu quantity (use cores like 0.5 or millicores like "500m")`);
  }
  if (millis <= 0) return bad(`must be greater than 0 (got "${text}")`);
  return ok(millis);
}

const MEMORY_UNITS: Record<string, number> = {
  '': 1,
  Ki: 1024,
  Mi: 1024 ** 2,
  Gi: 1024 ** 3,
  Ti: 1024 ** 4,
  k: 1000,
  M: 1000 ** 2,
  G: 1000 ** 3,
  T: 1000 ** 4,
};

/** Memory: bytes (`1048576`) or with a suffix (`"64Mi"`, `"1Gi"`, `"500M"`) → bytes (integer, > 0). */
export function parseMemory(input: unknown): Parsed<number> {
  const text = typeof input === 'number' ? String(input) : input;
  if (typeof text !== 'string') return bad('must be a number of bytes or a string like "64Mi"');
  const m = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|k|M|G|T)?$/.exec(text.trim());
  if (!m) {
    return bad(`"${text}" is not a memory quantity (use bytes or a suffix: Ki, Mi, Gi, Ti, k, M, G, T — e.g. "64Mi")`);
  }
  const bytes = Number(m[1]) * MEMORY_UNITS[m[2] ?? '']!;
  if (!Number.isFinite(bytes) || !Number.isSafeInteger(Math.round(bytes))) return bad(`"${text}" is too large`);
  if (!Number.isInteger(bytes)) return bad(`"${text}" is not a whole number of bytes`);
  if (bytes <= 0) return bad(`must be greater than 0 (got "${text}")`);
  return ok(bytes);
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Duration: `"500ms"`, `"5s"`, `"1m"`, `"1h30m"`, or `0` → milliseconds (integer, ≥ 0). */
export function parseDuration(input: unknown): Parsed<number> {
  if (input === 0 || input === '0') return ok(0);
  if (typeof input !== 'string') return bad('must be a duration string like "500ms", "5s" or "1m"');
  const s = input.trim();
  const part = /(\d+(?:\.\d+)?)(ms|s|m|h)/y;
  let total = 0;
  let at = 0;
  while (at < s.length) {
    part.lastIndex = at;
    const m = part.exec(s);
    if (!m) return bad(`"${input}" is not a duration (use e.g. "500ms", "5s", "1m")`);
    total += Number(m[1]) * DURATION_UNITS[m[2]!]!;
    at = part.lastIndex;
  }
  if (s.length === 0) return bad('must not be empty');
  if (!Number.isInteger(total)) return bad(`"${input}" is finer than 1ms`);
  return ok(total);
}

/** Formats millicores the way operators write them: whole cores as "2", otherwise "500m". */
export function formatCpu(millis: number): string {
  return millis % 1000 === 0 ? String(millis / 1000) : `${millis}m`;
}

/** Formats bytes with the largest binary suffix that divides them exactly. */
export function formatMemory(bytes: number): string {
  if (bytes === 0) return '0';
  for (const unit of ['Ti', 'Gi', 'Mi', 'Ki'] as const) {
    const size = MEMORY_UNITS[unit]!;
    if (bytes % size === 0) return `${bytes / size}${unit}`;
  }
  return String(bytes);
}

/** Formats milliseconds compactly: "1m30s", "5s", "250ms", "0s". */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  let rest = ms;
  let out = '';
  for (const [unit, size] of [['h', 3_600_000], ['m', 60_000], ['s', 1000], ['ms', 1]] as const) {
    const n = Math.floor(rest / size);
    if (n > 0) {
      out += `${n}${unit}`;
      rest -= n * size;
    }
  }
  return out;
}

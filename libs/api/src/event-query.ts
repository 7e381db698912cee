import { type ClusterEvent, compareEventIds, type EventFilter, matchesEvent, type Parsed, parseDuration, parseEventId, ValidationError } from '@berth/core';

/**
 * `GET /api/v1/events` as asked (docs/api.md): which events, from where on, and whether to follow.
 * One parser for the server (query string → 422 naming the parameter) and the CLI (flags → exit 2).
 */
export interface EventQuery {
  readonly filter: EventFilter;
  /** Only events committed after this one (an event's `id`). */
  readonly after?: string;
  readonly watch: boolean;
}

/** The query string as Fastify hands it over: absent, a string, or an array when repeated. */
export interface RawEventQuery {
  readonly service?: unknown;
  readonly node?: unknown;
  readonly since?: unknown;
  readonly after?: unknown;
  readonly watch?: unknown;
}

export const SINCE_FORMS = 'a duration like "30s", "10m" or "1h30m", or an RFC 3339 time like "2026-03-01T12:00:00Z"';
export const AFTER_FORMS = 'an event id REVISION.INDEX, as in an event\'s "id" (e.g. "1234.0")';

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})$/i;

/** `since`: a duration back from `now`, or an RFC 3339 time → the ISO time events are compared with. */
export function parseSince(value: string, now: Date): Parsed<string> {
  if (RFC3339.test(value)) {
    const at = Date.parse(value);
    return Number.isNaN(at) ? { ok: false, reason: `"${value}" is not a valid time` } : { ok: true, value: new Date(at).toISOString() };
  }
  const ago = parseDuration(value);
  if (!ago.ok) return { ok: false, reason: `must be ${SINCE_FORMS} (got "${value}")` };
  return { ok: true, value: new Date(now.getTime() - ago.value).toISOString() };
}

/** `after`: an event id. */
export function parseAfter(value: string): Parsed<string> {
  try {
    parseEventId(value);
    return { ok: true, value };
  } catch {
    return { ok: false, reason: `must be ${AFTER_FORMS} (got "${value}")` };
  }
}

/** `watch`: `1`/`true` (or present without a value) follows; `0`/`false`/absent does not. */
function parseWatch(value: string | undefined): Parsed<boolean> {
  if (value === undefined || value === '0' || value === 'false') return { ok: true, value: false };
  if (value === '' || value === '1' || value === 'true') return { ok: true, value: true };
  return { ok: false, reason: `must be 1 or 0 (got "${value}")` };
}

/**
 * Reads the query of `GET /api/v1/events`. Empty `service`/`node` mean no filter. Throws a
 * ValidationError naming every bad parameter and the forms it accepts.
 */
export function readEventQuery(raw: RawEventQuery, now: Date): EventQuery {
  const issues: { path: string; message: string }[] = [];
  const text = (name: keyof RawEventQuery): string | undefined => {
    const value = raw[name];
    if (value === undefined) return undefined;
    if (typeof value === 'string') return value;
    issues.push({ path: name, message: 'must be given once' });
    return undefined;
  };
  const take = <T>(name: keyof RawEventQuery, parsed: Parsed<T> | undefined): T | undefined => {
    if (parsed === undefined) return undefined;
    if (parsed.ok) return parsed.value;
    issues.push({ path: name, message: parsed.reason });
    return undefined;
  };
  const service = text('service') || undefined;
  const node = text('node') || undefined;
  const sinceText = text('since');
  const since = take('since', sinceText === undefined ? undefined : parseSince(sinceText, now));
  const afterText = text('after');
  const after = take('after', afterText === undefined ? undefined : parseAfter(afterText));
  const watch = take('watch', parseWatch(text('watch'))) ?? false;
  if (issues.length > 0) throw new ValidationError(issues);
  return {
    filter: { ...(service ? { service } : {}), ...(node ? { node } : {}), ...(since ? { since } : {}) },
    ...(after ? { after } : {}),
    watch,
  };
}

/** True when the event is one the query asks for: it passes the filter and comes after `after`. */
export function matchesEventQuery(e: ClusterEvent, q: Pick<EventQuery, 'filter' | 'after'>): boolean {
  return matchesEvent(e, q.filter) && (q.after === undefined || compareEventIds(e.id, q.after) > 0);
}

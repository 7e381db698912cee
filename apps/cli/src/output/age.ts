const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/**
 * How long ago `since` was, the way kubectl prints AGE: precise when recent ("45s", "3m20s"),
 * coarser as it grows ("2h", "5d", "2y"). `-` when the timestamp is missing or unreadable.
 */
export function formatAge(since: string | undefined, now: Date): string {
  const at = since === undefined ? NaN : Date.parse(since);
  if (Number.isNaN(at)) return '-';
  return humanDuration(Math.max(0, now.getTime() - at));
}

export function humanDuration(ms: number): string {
  const s = Math.floor(ms / SECOND);
  if (ms < 2 * MINUTE) return `${s}s`;
  const m = Math.floor(ms / MINUTE);
  if (ms < 10 * MINUTE) return s % 60 === 0 ? `${m}m` : `${m}m${s % 60}s`;
  if (ms < 3 * HOUR) return `${m}m`;
  const h = Math.floor(ms / HOUR);
  if (ms < 8 * HOUR) return m % 60 === 0 ? `${h}h` : `${h}h${m % 60}m`;
  if (ms < 2 * DAY) return `${h}h`;
  const d = Math.floor(ms / DAY);
  if (ms < 8 * DAY) return h % 24 === 0 ? `${d}d` : `${d}d${h % 24}h`;
  if (ms < 365 * 2 * DAY) return `${d}d`;
  return `${Math.floor(d / 365)}y`;
}

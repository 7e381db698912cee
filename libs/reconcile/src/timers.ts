/**
 * The timer functions the work queue schedules retries with. Production code passes nothing and
 * gets the real timers; tests pass a fake clock so backoff is asserted without waiting.
 */
export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const realTimers: Timers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

/** Exponential backoff: `baseMs · 2^(failures-1)`, never above `maxMs`. */
export function backoffDelay(failures: number, baseMs: number, maxMs: number): number {
  if (failures <= 0) return 0;
  // Cap the exponent first so large failure counts cannot overflow to Infinity.
  const exp = Math.min(failures - 1, 30);
  return Math.min(baseMs * 2 ** exp, maxMs);
}

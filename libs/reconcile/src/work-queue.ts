import { realTimers, backoffDelay, type Timers } from './timers';

export interface WorkQueueOptions<K> {
  /** First retry delay after a failure; doubles per consecutive failure. Default 100 ms. */
  readonly baseDelayMs?: number;
  /** Upper bound of the retry delay. Default 30 s. */
  readonly maxDelayMs?: number;
  readonly timers?: Timers;
  /** Told about every failed attempt (the key is retried after `retryInMs`). Must not throw. */
  readonly onError?: (key: K, error: unknown, retryInMs: number) => void;
}

export type KeyHandler<K> = (key: K, signal: AbortSignal) => Promise<void>;

/**
 * A queue of keys for level-triggered reconcilers (the shape of client-go's workqueue).
 *
 * Contract:
 * - `add` of a key that is already waiting is a no-op (keys, not events, are queued).
 * - A key is never handled by two workers at once; a key added while it is being handled is
 *   handled once more after the current attempt ends.
 * - A failed key is retried after an exponential backoff (capped); success resets its count.
 *   An `add` while a retry is pending handles it right away (new information beats waiting).
 */
export class WorkQueue<K> {
  private readonly waiting: K[] = [];
  private readonly queued = new Set<K>();
  private readonly processing = new Set<K>();
  private readonly dirty = new Set<K>();
  private readonly failures = new Map<K, number>();
  private readonly retries = new Map<K, unknown>();
  private wakeups: (() => void)[] = [];
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly timers: Timers;

  constructor(private readonly opts: WorkQueueOptions<K> = {}) {
    this.baseDelayMs = opts.baseDelayMs ?? 100;
    this.maxDelayMs = opts.maxDelayMs ?? 30_000;
    this.timers = opts.timers ?? realTimers;
  }

  add(key: K): void {
    this.cancelRetry(key);
    if (this.queued.has(key)) return;
    if (this.processing.has(key)) {
      this.dirty.add(key);
      return;
    }
    this.queued.add(key);
    this.waiting.push(key);
    this.wake();
  }

  /** Keys waiting to be handled (not counting those being handled or backing off). */
  get length(): number {
    return this.waiting.length;
  }

  /** Consecutive failures of `key` so far (0 after a success). */
  failureCount(key: K): number {
    return this.failures.get(key) ?? 0;
  }

  /**
   * Handles keys with up to `concurrency` workers until `signal` aborts; resolves once every
   * handler in flight has finished. Pending retries are dropped on exit. One run at a time.
   */
  async run(signal: AbortSignal, handler: KeyHandler<K>, opts: { concurrency?: number } = {}): Promise<void> {
    const onAbort = (): void => this.wake();
    signal.addEventListener('abort', onAbort);
    try {
      const workers = Array.from({ length: Math.max(1, opts.concurrency ?? 1) }, () => this.worker(signal, handler));
      await Promise.all(workers);
    } finally {
      signal.removeEventListener('abort', onAbort);
      for (const key of [...this.retries.keys()]) this.cancelRetry(key);
    }
  }

  private async worker(signal: AbortSignal, handler: KeyHandler<K>): Promise<void> {
    for (;;) {
      const key = await this.next(signal);
      if (key === undefined) return;
      let failed = false;
      let error: unknown;
      try {
        await handler(key.value, signal);
      } catch (e) {
        failed = true;
        error = e;
      }
      this.done(key.value, failed, error, signal);
    }
  }

  private async next(signal: AbortSignal): Promise<{ value: K } | undefined> {
    while (!signal.aborted) {
      if (this.waiting.length > 0) {
        const value = this.waiting.shift() as K;
        this.queued.delete(value);
        this.processing.add(value);
        return { value };
      }
      await new Promise<void>((resolve) => this.wakeups.push(resolve));
    }
    return undefined;
  }

  private done(key: K, failed: boolean, error: unknown, signal: AbortSignal): void {
    this.processing.delete(key);
    if (failed) {
      const count = (this.failures.get(key) ?? 0) + 1;
      this.failures.set(key, count);
      const delay = backoffDelay(count, this.baseDelayMs, this.maxDelayMs);
      this.opts.onError?.(key, error, delay);
      if (!signal.aborted && !this.dirty.has(key)) this.scheduleRetry(key, delay);
    } else {
      this.failures.delete(key);
    }
    if (this.dirty.delete(key)) this.add(key);
  }

  private scheduleRetry(key: K, delay: number): void {
    const handle = this.timers.setTimeout(() => {
      this.retries.delete(key);
      this.add(key);
    }, delay);
    this.retries.set(key, handle);
  }

  private cancelRetry(key: K): void {
    const handle = this.retries.get(key);
    if (handle === undefined) return;
    this.timers.clearTimeout(handle);
    this.retries.delete(key);
  }

  private wake(): void {
    const wakeups = this.wakeups;
    this.wakeups = [];
    for (const w of wakeups) w();
  }
}

/** Resolves after `ms`, or at once when `signal` aborts (never rejects). */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

/** Runs `fn` after `ms` unless `signal` aborts first. */
export function after(ms: number, signal: AbortSignal, fn: () => void): void {
  if (signal.aborted) return;
  const timer = setTimeout(() => {
    signal.removeEventListener('abort', cancel);
    fn();
  }, ms);
  const cancel = (): void => clearTimeout(timer);
  signal.addEventListener('abort', cancel, { once: true });
}

/** Something that fills a cache in the background: an informer, or a cache built on informers. */
export interface Source {
  /** Fills and keeps the cache until `signal` aborts. */
  run(signal: AbortSignal): Promise<void>;
  /** Resolves once the cache holds a complete first listing. */
  synced(): Promise<void>;
}

/** Resolves when every source has synced, or when `signal` aborts first. */
export async function whenSynced(sources: readonly Source[], signal: AbortSignal): Promise<void> {
  let onAbort = (): void => undefined;
  const aborted = new Promise<void>((resolve) => {
    onAbort = () => resolve();
    signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    await Promise.race([Promise.all(sources.map((s) => s.synced())), aborted]);
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}

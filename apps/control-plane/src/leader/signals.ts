import type { Informer } from '@berth/store';

/** Resolves when every informer has listed, or when `signal` aborts first. */
export async function whenSynced(informers: readonly Informer<unknown>[], signal: AbortSignal): Promise<void> {
  let onAbort = (): void => undefined;
  const aborted = new Promise<void>((resolve) => {
    onAbort = () => resolve();
    signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    await Promise.race([Promise.all(informers.map((i) => i.synced())), aborted]);
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
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

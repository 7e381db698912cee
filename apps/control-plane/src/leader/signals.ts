import { type Loop, runLoops } from '@berth/reconcile';
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

/**
 * The shape of every leader-only loop: its informers run side by side with `worker`, which starts
 * once all of them have listed (so it never acts on a partial cache). Resolves when `signal`
 * aborts and everything has stopped; a failing informer or worker fails the whole (runLoops).
 */
export async function runWithInformers(informers: Readonly<Record<string, Informer<unknown>>>, worker: Loop, signal: AbortSignal): Promise<void> {
  await runLoops(
    [
      ...Object.entries(informers).map(([name, inf]) => ({ name: `${name} informer`, run: (s: AbortSignal) => inf.run(s) })),
      {
        name: worker.name,
        run: async (s: AbortSignal) => {
          await whenSynced(Object.values(informers), s);
          if (!s.aborted) await worker.run(s);
        },
      },
    ],
    signal,
  );
}

import { DomainError } from '@berth/core';
import { type Source, whenSynced } from './signals';

/** A long-running loop: works until `signal` aborts, then resolves. Rejecting means it failed. */
export interface Loop {
  readonly name: string;
  run(signal: AbortSignal): Promise<void>;
}

/** A loop failed; every sibling loop was aborted because of it. */
export class LoopFailedError extends DomainError {
  readonly code = 'INTERNAL';
  constructor(
    readonly loop: string,
    override readonly cause: unknown,
  ) {
    super(`loop "${loop}" failed: ${cause instanceof Error ? cause.message : String(cause)}`);
  }
}

/**
 * Runs `loops` together until `signal` aborts. When one loop fails, the others are aborted and,
 * once all have stopped, the returned promise rejects with a LoopFailedError naming the first
 * loop that failed. Resolves after every loop has returned.
 */
export async function runLoops(loops: readonly Loop[], signal: AbortSignal): Promise<void> {
  const group = new AbortController();
  const forward = (): void => group.abort(signal.reason);
  if (signal.aborted) forward();
  else signal.addEventListener('abort', forward, { once: true });
  let first: LoopFailedError | undefined;
  try {
    await Promise.all(
      loops.map(async (loop) => {
        try {
          await loop.run(group.signal);
        } catch (e) {
          // A sibling or the caller aborted the group: an AbortError is the loop obeying, not failing.
          if (group.signal.aborted && e instanceof Error && e.name === 'AbortError') return;
          first ??= new LoopFailedError(loop.name, e);
          group.abort(first);
        }
      }),
    );
  } finally {
    signal.removeEventListener('abort', forward);
  }
  if (first) throw first;
}

/**
 * The shape of every loop that works from caches: the sources run side by side with `worker`,
 * which starts once all of them have synced (so it never acts on a partial cache). Resolves when
 * `signal` aborts and everything has stopped; a failing source or worker fails the whole.
 */
export async function runWithSources(sources: Readonly<Record<string, Source>>, worker: Loop, signal: AbortSignal): Promise<void> {
  await runLoops(
    [
      ...Object.entries(sources).map(([name, src]) => ({ name, run: (s: AbortSignal) => src.run(s) })),
      {
        name: worker.name,
        run: async (s: AbortSignal) => {
          await whenSynced(Object.values(sources), s);
          if (!s.aborted) await worker.run(s);
        },
      },
    ],
    signal,
  );
}

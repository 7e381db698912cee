import { describe, expect, it } from 'vitest';
import { LoopFailedError, runLoops, type Loop } from './loops';

/** A loop that runs until aborted and records that it stopped. */
function patient(name: string, stopped: string[]): Loop {
  return {
    name,
    run: (signal) =>
      new Promise<void>((resolve) => {
        signal.addEventListener('abort', () => {
          stopped.push(name);
          resolve();
        });
      }),
  };
}

describe('runLoops', () => {
  it('runs every loop until the caller aborts, then resolves', async () => {
    const stopped: string[] = [];
    const ac = new AbortController();
    const running = runLoops([patient('status', stopped), patient('scheduler', stopped)], ac.signal);
    ac.abort();
    await running;
    expect(stopped.sort()).toEqual(['scheduler', 'status']);
  });

  it('aborts the other loops when one fails and rejects naming the failed loop', async () => {
    const stopped: string[] = [];
    const failing: Loop = { name: 'orchestrator', run: () => Promise.reject(new Error('store gone')) };
    const ac = new AbortController();
    const err = await runLoops([patient('status', stopped), failing], ac.signal).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LoopFailedError);
    expect((err as LoopFailedError).loop).toBe('orchestrator');
    expect((err as Error).message).toContain('store gone');
    expect(stopped).toEqual(['status']);
    expect(ac.signal.aborted).toBe(false);
  });

  it('hands loops an aborted signal when the caller aborted before the start', async () => {
    const ac = new AbortController();
    ac.abort();
    const seen: boolean[] = [];
    await runLoops(
      [{ name: 'x', run: async (s) => void seen.push(s.aborted) }],
      ac.signal,
    );
    expect(seen).toEqual([true]);
  });
});

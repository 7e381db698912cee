import { describe, expect, it } from 'vitest';
import type { Timers } from './timers';
import { backoffDelay } from './timers';
import { WorkQueue } from './work-queue';

/** Timers that only fire when the test advances the clock. */
class FakeTimers implements Timers {
  now = 0;
  private seq = 0;
  private readonly pending = new Map<number, { at: number; fn: () => void }>();
  setTimeout(fn: () => void, ms: number): unknown {
    const id = ++this.seq;
    this.pending.set(id, { at: this.now + ms, fn });
    return id;
  }
  clearTimeout(handle: unknown): void {
    this.pending.delete(handle as number);
  }
  advance(ms: number): void {
    this.now += ms;
    for (const [id, t] of [...this.pending]) {
      if (t.at <= this.now) {
        this.pending.delete(id);
        t.fn();
      }
    }
  }
}

/** A promise with its resolve exposed, to hold a handler mid-flight. */
function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((r) => (open = r));
  return { promise, open };
}

const settle = async (): Promise<void> => {
  for (let i = 0; i < 20; i++) await Promise.resolve();
};

describe('WorkQueue', () => {
  it('handles a key added many times before a worker picks it up once', async () => {
    const q = new WorkQueue<string>();
    q.add('web');
    q.add('web');
    q.add('db');
    q.add('web');
    expect(q.length).toBe(2);
    const seen: string[] = [];
    const ac = new AbortController();
    const running = q.run(ac.signal, async (k) => {
      seen.push(k);
    });
    await settle();
    ac.abort();
    await running;
    expect(seen).toEqual(['web', 'db']);
  });

  it('never hands one key to two workers at once, and handles a key re-added mid-flight again after', async () => {
    const q = new WorkQueue<string>();
    const first = gate();
    let active = 0;
    let maxActive = 0;
    const seen: string[] = [];
    const ac = new AbortController();
    const running = q.run(
      ac.signal,
      async (k) => {
        active++;
        maxActive = Math.max(maxActive, active);
        seen.push(k);
        if (seen.length === 1) await first.promise;
        active--;
      },
      { concurrency: 4 },
    );
    q.add('web');
    await settle();
    q.add('web'); // while the first attempt is still running
    q.add('web');
    await settle();
    expect(seen).toEqual(['web']);
    first.open();
    await settle();
    ac.abort();
    await running;
    expect(seen).toEqual(['web', 'web']);
    expect(maxActive).toBe(1);
  });

  it('handles different keys in parallel up to the concurrency', async () => {
    const q = new WorkQueue<string>();
    const hold = gate();
    let active = 0;
    let maxActive = 0;
    const ac = new AbortController();
    const running = q.run(
      ac.signal,
      async () => {
        active++;
        maxActive = Math.max(maxActive, active);
        await hold.promise;
        active--;
      },
      { concurrency: 2 },
    );
    for (const k of ['a', 'b', 'c']) q.add(k);
    await settle();
    expect(active).toBe(2);
    hold.open();
    await settle();
    ac.abort();
    await running;
    expect(maxActive).toBe(2);
  });

  it('retries a failing key with exponential backoff, and resets after a success', async () => {
    const timers = new FakeTimers();
    const errors: number[] = [];
    const q = new WorkQueue<string>({
      timers,
      baseDelayMs: 100,
      maxDelayMs: 1000,
      onError: (_k, _e, retryIn) => errors.push(retryIn),
    });
    let attempts = 0;
    const ac = new AbortController();
    const running = q.run(ac.signal, async () => {
      attempts++;
      if (attempts <= 2) throw new Error('etcd busy');
    });
    q.add('web');
    await settle();
    expect(attempts).toBe(1);
    timers.advance(99);
    await settle();
    expect(attempts).toBe(1);
    timers.advance(1);
    await settle();
    expect(attempts).toBe(2); // retried after 100 ms
    timers.advance(100);
    await settle();
    expect(attempts).toBe(2); // second delay is 200 ms, not 100
    timers.advance(100);
    await settle();
    expect(attempts).toBe(3);
    expect(q.failureCount('web')).toBe(0);
    expect(errors).toEqual([100, 200]);
    ac.abort();
    await running;
  });

  it('handles a key at once when it is added while its retry is pending', async () => {
    const timers = new FakeTimers();
    const q = new WorkQueue<string>({ timers, baseDelayMs: 1000 });
    let attempts = 0;
    const ac = new AbortController();
    const running = q.run(ac.signal, async () => {
      attempts++;
      if (attempts === 1) throw new Error('boom');
    });
    q.add('web');
    await settle();
    q.add('web');
    await settle();
    expect(attempts).toBe(2);
    timers.advance(1000);
    await settle();
    expect(attempts).toBe(2); // the pending retry was cancelled
    ac.abort();
    await running;
  });

  it('resolves run() only after the handler in flight finished', async () => {
    const q = new WorkQueue<string>();
    const hold = gate();
    let finished = false;
    const ac = new AbortController();
    const running = q.run(ac.signal, async () => {
      await hold.promise;
      finished = true;
    });
    q.add('web');
    await settle();
    ac.abort();
    let resolved = false;
    void running.then(() => (resolved = true));
    await settle();
    expect(resolved).toBe(false);
    hold.open();
    await running;
    expect(finished).toBe(true);
  });
});

describe('backoffDelay', () => {
  it('doubles from the base and stops at the cap', () => {
    expect([1, 2, 3, 4, 5, 100].map((n) => backoffDelay(n, 100, 1000))).toEqual([100, 200, 400, 800, 1000, 1000]);
  });
});

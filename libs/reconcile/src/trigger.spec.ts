import { describe, expect, it } from 'vitest';
import { RevisionWatermark } from './watermark';
import { Trigger } from './trigger';

describe('Trigger', () => {
  it('lets the first wait through, then waits for a kick; many kicks cost one pass', async () => {
    const t = new Trigger();
    const ac = new AbortController();
    await t.wait(ac.signal); // dirty at first
    let woke = false;
    const waiting = t.wait(ac.signal).then(() => (woke = true));
    await Promise.resolve();
    expect(woke).toBe(false);
    t.kick();
    t.kick();
    await waiting;
    expect(woke).toBe(true);
    let again = false;
    const next = t.wait(ac.signal).then(() => (again = true));
    await Promise.resolve();
    expect(again).toBe(false); // the second kick was folded into the first pass
    ac.abort();
    await next;
  });

  it('never loses a kick that arrives while a pass runs', async () => {
    const t = new Trigger(false);
    t.kick();
    await t.wait(new AbortController().signal); // returns at once: the kick came before the wait
  });
});

describe('RevisionWatermark', () => {
  it('holds a key back until the cache has shown its write', () => {
    const w = new RevisionWatermark(() => 0);
    w.observe('10');
    w.expect('web', '12');
    expect(w.caughtUp('web')).toBe(false);
    w.observe('12');
    expect(w.caughtUp('web')).toBe(true);
    expect(w.caughtUp('other')).toBe(true);
  });

  it('stops waiting for a write the cache never showed after a while', () => {
    let now = 0;
    const w = new RevisionWatermark(() => now);
    w.expect('web', '99');
    now = 10_001;
    expect(w.caughtUp('web')).toBe(true);
  });
});

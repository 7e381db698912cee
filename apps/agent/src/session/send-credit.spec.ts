import { describe, expect, it } from 'vitest';
import { SendCredit } from './send-credit';

describe('SendCredit', () => {
  it('lets a sender go on while credit is left and holds it once spent, until a grant', async () => {
    const credit = new SendCredit(10);
    const signal = new AbortController().signal;
    await credit.room(signal);
    credit.spend(12);
    let waited = false;
    const room = credit.room(signal).then(() => (waited = true));
    await new Promise((r) => setImmediate(r));
    expect(waited).toBe(false);
    credit.grant(1); // still below zero
    await new Promise((r) => setImmediate(r));
    expect(waited).toBe(false);
    credit.grant(5);
    await room;
    expect(waited).toBe(true);
  });

  it('stops waiting when the request is cancelled', async () => {
    const credit = new SendCredit(0);
    const ctl = new AbortController();
    const room = credit.room(ctl.signal);
    ctl.abort();
    await room;
  });
});

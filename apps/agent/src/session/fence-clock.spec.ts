import { describe, expect, it } from 'vitest';
import { FenceClock } from './fence-clock';

describe('FenceClock', () => {
  it('reports a cut-off once the node-down time passes without a renewal, once per episode', () => {
    let now = 1000;
    const c = new FenceClock(() => now, 5000);
    now = 5999;
    expect(c.cutOffNow()).toBe(false);
    now = 6000;
    expect(c.cutOffNow()).toBe(true);
    expect(c.cutOffNow()).toBe(false);
    c.renewed(6500);
    now = 11_499;
    expect(c.cutOffNow()).toBe(false);
    now = 11_500;
    expect(c.cutOffNow()).toBe(true);
  });

  it('dates a renewal by when its heartbeat was sent, so a late ack cannot stretch the deadline', () => {
    let now = 0;
    const c = new FenceClock(() => now, 5000);
    now = 4900;
    c.renewed(100); // the ack for a heartbeat sent at 100 arrives late
    now = 5100;
    expect(c.cutOffNow()).toBe(true);
  });

  it('ignores an older renewal and takes the node-down time from Welcome', () => {
    let now = 0;
    const c = new FenceClock(() => now, 5000);
    c.setDownAfter(2000);
    c.renewed(1000);
    c.renewed(500);
    now = 2999;
    expect(c.cutOffNow()).toBe(false);
    now = 3000;
    expect(c.cutOffNow()).toBe(true);
  });
});

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SharedExclusiveGate } from './gate';

const tick = () => new Promise((r) => setTimeout(r, 1));

describe('SharedExclusiveGate', () => {
  it('never runs an exclusive operation beside anything, nor more than maxShared shared ones', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.boolean(), { minLength: 1, maxLength: 30 }), fc.integer({ min: 1, max: 4 }), async (kinds, max) => {
        const gate = new SharedExclusiveGate(max);
        let shared = 0;
        let exclusive = 0;
        const violations: string[] = [];
        const check = () => {
          if (exclusive > 1 || (exclusive === 1 && shared > 0)) violations.push(`exclusive ${exclusive} beside shared ${shared}`);
          if (shared > max) violations.push(`${shared} shared > ${max}`);
        };
        await Promise.all(
          kinds.map((isExclusive) =>
            isExclusive
              ? gate.runExclusive(async () => {
                  exclusive++;
                  check();
                  await tick();
                  exclusive--;
                })
              : gate.runShared(async () => {
                  shared++;
                  check();
                  await tick();
                  shared--;
                }),
          ),
        );
        expect(violations).toEqual([]);
      }),
      { numRuns: 50 },
    );
  });

  it('runs shared operations side by side, and lets a waiting exclusive one go before later shared ones', async () => {
    const gate = new SharedExclusiveGate(2);
    const order: string[] = [];
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const a = gate.runShared(async () => {
      order.push('a start');
      await held;
      order.push('a end');
    });
    const b = gate.runShared(async () => void order.push('b'));
    const x = gate.runExclusive(async () => void order.push('x'));
    const c = gate.runShared(async () => void order.push('c'));
    await tick();
    expect(order).toEqual(['a start', 'b']);
    release();
    await Promise.all([a, b, x, c]);
    expect(order).toEqual(['a start', 'b', 'a end', 'x', 'c']);
  });

  it('passes results and errors through and keeps going after a failure', async () => {
    const gate = new SharedExclusiveGate(1);
    await expect(gate.runExclusive(async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(await gate.runShared(async () => 42)).toBe(42);
  });
});

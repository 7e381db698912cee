import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { TASK_TXN_BYTES } from './limits';
import { sizedBatches } from './task-writer';

describe('task writes in transactions that fit etcd', () => {
  it('cuts batches by count and by bytes, keeping order; a record larger than the budget goes alone', () => {
    expect(sizedBatches([1, 2, 3, 4, 5], 2, () => 1)).toEqual([[1, 2], [3, 4], [5]]);
    expect(sizedBatches([6, 6, 6, 20, 1], 10, (n) => n, 12)).toEqual([[6, 6], [6], [20], [1]]);
    expect(sizedBatches([], 3, () => 1)).toEqual([]);
  });

  it('250 task records of 41 KB (a 40 KB env value) take several transactions of at most 1 MiB', () => {
    const batches = sizedBatches(Array.from({ length: 250 }, (_, i) => i), 250, () => 41_000);
    expect(batches.length).toBeGreaterThanOrEqual(10);
    for (const b of batches) expect(b.length * 41_000).toBeLessThanOrEqual(TASK_TXN_BYTES);
  });

  it('never exceeds either limit with more than one item, and loses nothing', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 100 })), fc.integer({ min: 1, max: 10 }), fc.integer({ min: 1, max: 200 }), (items, size, maxBytes) => {
        const batches = sizedBatches(items, size, (n) => n, maxBytes);
        expect(batches.flat()).toEqual(items);
        for (const b of batches) {
          expect(b.length).toBeGreaterThan(0);
          expect(b.length).toBeLessThanOrEqual(size);
          if (b.length > 1) expect(b.reduce((a, n) => a + n, 0)).toBeLessThanOrEqual(maxBytes);
        }
      }),
    );
  });
});

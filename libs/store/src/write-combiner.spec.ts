import { describe, expect, it } from 'vitest';
import { WriteCombiner } from './write-combiner';

/** A writer whose writes finish only when the test says so. */
function gatedWriter() {
  const writes: { items: number[]; finish: (error?: Error) => void }[] = [];
  const write = (items: number[]) => new Promise<void>((resolve, reject) => writes.push({ items, finish: (e) => (e ? reject(e) : resolve()) }));
  return { writes, write };
}

const tick = () => new Promise((r) => setTimeout(r, 0));

describe('WriteCombiner', () => {
  it('writes what arrives while a write is under way together, in batches of at most `batch`', async () => {
    const { writes, write } = gatedWriter();
    const c = new WriteCombiner(write, { batch: 3, concurrency: 1 });
    const first = c.submit([1]);
    const others = [c.submit([2]), c.submit([3, 4]), c.submit([5]), c.submit([6])];
    expect(writes.map((w) => w.items)).toEqual([[1]]);
    writes[0]!.finish();
    await first;
    await tick();
    expect(writes.map((w) => w.items)).toEqual([[1], [2, 3, 4]]);
    writes[1]!.finish();
    await tick();
    expect(writes.map((w) => w.items)).toEqual([[1], [2, 3, 4], [5, 6]]);
    writes[2]!.finish();
    await Promise.all(others);
  });

  it('settles a caller only once every one of its items is written, and fails it with a failed write', async () => {
    const { writes, write } = gatedWriter();
    const c = new WriteCombiner(write, { batch: 2, concurrency: 2 });
    let settled = false;
    const split = c.submit([1, 2, 3]).then(() => (settled = true));
    expect(writes.map((w) => w.items)).toEqual([[1, 2], [3]]);
    writes[0]!.finish();
    await tick();
    expect(settled).toBe(false);
    writes[1]!.finish(new Error('etcd is away'));
    await expect(split).rejects.toThrow('etcd is away');
  });

  it('writes nothing for nothing', async () => {
    const { writes, write } = gatedWriter();
    await new WriteCombiner(write, { batch: 2, concurrency: 1 }).submit([]);
    expect(writes).toEqual([]);
  });
});

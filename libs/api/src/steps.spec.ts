import { describe, expect, it } from 'vitest';
import { parseManifestsYielding, validateManifestObjectsYielding } from './index';
import { runSync, runYielding, type Steps } from './steps';

const item = (i: number) => ({
  apiVersion: 'berth/v1',
  kind: 'Service',
  metadata: { name: `s${i}` },
  spec: { template: { image: '127.0.0.1:5000/busybox:1', env: Object.fromEntries(Array.from({ length: 400 }, (_, j) => [`K${j}`, 'v'])) } },
});

/** The longest time the event loop went without running a 1 ms interval while `work` ran. */
async function longestStall(work: () => Promise<unknown>): Promise<{ stallMs: number; totalMs: number }> {
  let last = performance.now();
  let stallMs = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    stallMs = Math.max(stallMs, now - last);
    last = now;
  }, 1);
  const start = performance.now();
  try {
    await work();
  } finally {
    clearInterval(timer);
  }
  return { stallMs, totalMs: performance.now() - start };
}

describe('work in steps', () => {
  it('runs to the same result at once or yielding', async () => {
    function* count(): Steps<number> {
      let n = 0;
      for (let i = 0; i < 1000; i++) {
        n += i;
        yield;
      }
      return n;
    }
    expect(runSync(count())).toBe(499_500);
    expect(await runYielding(count(), 0)).toBe(499_500);
  });

  it('a large JSON apply lets timers run while it is validated (leases and other requests go on)', async () => {
    const items = Array.from({ length: 300 }, (_, i) => item(i));
    const { stallMs, totalMs } = await longestStall(() => validateManifestObjectsYielding(items));
    console.log(`300 items × 400 env: ${totalMs.toFixed(0)} ms, longest event-loop stall ${stallMs.toFixed(0)} ms`);
    expect(stallMs).toBeLessThan(Math.max(200, totalMs / 3));
  });

  it('so does a large YAML apply, document by document', async () => {
    const doc = (i: number) => `apiVersion: berth/v1\nkind: Service\nmetadata:\n  name: s${i}\nspec:\n  template:\n    image: 127.0.0.1:5000/busybox:1\n    env:\n${Array.from({ length: 40 }, (_, j) => `      K${j}: v\n`).join('')}`;
    const text = Array.from({ length: 600 }, (_, i) => doc(i)).join('---\n');
    const { stallMs, totalMs } = await longestStall(() => parseManifestsYielding([{ file: 'a.yaml', text }]));
    console.log(`600 YAML documents: ${totalMs.toFixed(0)} ms, longest event-loop stall ${stallMs.toFixed(0)} ms`);
    expect(stallMs).toBeLessThan(Math.max(200, totalMs / 3));
  });
});

import { describe, expect, it } from 'vitest';
import { ImageGarbageCollector, type UnusedImageRemover } from './image-gc';

/** Unit-test double of the image store: images are digests with the time of their last pull. */
class FakeImages implements UnusedImageRemover {
  constructor(readonly lastPull: Map<string, number>, private readonly now: () => number) {}
  async removeUnused(o: { olderThanMs: number; inUse: ReadonlySet<string> }): Promise<string[]> {
    const removed = [...this.lastPull].filter(([d, at]) => !o.inUse.has(d) && this.now() - at >= o.olderThanMs).map(([d]) => d);
    for (const d of removed) this.lastPull.delete(d);
    return removed;
  }
}

describe('ImageGarbageCollector', () => {
  it('removes only images no task uses and nothing pulled recently', async () => {
    const now = 100_000;
    const images = new FakeImages(new Map([['sha256:old-unused', 0], ['sha256:old-used', 0], ['sha256:new-unused', now - 10]]), () => now);
    const logged: string[] = [];
    const gc = new ImageGarbageCollector({ images, inUse: () => new Set(['sha256:old-used']), keepUnusedMs: 1_000, log: (l) => logged.push(l) });
    expect(await gc.collect()).toEqual(['sha256:old-unused']);
    expect([...images.lastPull.keys()].sort()).toEqual(['sha256:new-unused', 'sha256:old-used']);
    expect(logged).toEqual(['removed 1 unused image(s): sha256:old-unused']);
  });

  it('keeps running rounds after a failed one, and stops when aborted', async () => {
    let rounds = 0;
    const images: UnusedImageRemover = {
      removeUnused: async () => {
        rounds++;
        if (rounds === 1) throw new Error('disk on fire');
        return [];
      },
    };
    const logged: string[] = [];
    const stop = new AbortController();
    const gc = new ImageGarbageCollector({ images, inUse: () => new Set(), everyMs: 5, log: (l) => logged.push(l) });
    const running = gc.run(stop.signal);
    await expect.poll(() => rounds, { timeout: 2_000 }).toBeGreaterThanOrEqual(3);
    stop.abort();
    await running;
    expect(logged[0]).toBe('image housekeeping failed: disk on fire');
  });
});

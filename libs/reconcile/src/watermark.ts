/** How long a write may stay unseen before the loop stops waiting for it (a relist without events). */
const EXPECTATION_TTL_MS = 10_000;

/**
 * Tracks the highest store revision a cache has delivered, so a loop that just wrote can wait
 * until its cache shows that write before deciding again — without it a second pass on a stale
 * cache would create or place the same tasks twice.
 */
export class RevisionWatermark {
  private seen = 0n;
  private readonly expected = new Map<string, { revision: bigint; at: number }>();
  constructor(private readonly now: () => number = Date.now) {}

  /** The cache delivered an event of `revision` (decimal string). */
  observe(revision: string): void {
    const rev = BigInt(revision);
    if (rev > this.seen) this.seen = rev;
  }

  /** Remembers that `key`'s last decision wrote at `revision`. */
  expect(key: string, revision: string | undefined): void {
    if (revision !== undefined) this.expected.set(key, { revision: BigInt(revision), at: this.now() });
  }

  /** True when the cache already reflects the last write made for `key` (or it is too old to wait for). */
  caughtUp(key: string): boolean {
    const e = this.expected.get(key);
    if (!e) return true;
    if (this.seen >= e.revision || this.now() - e.at > EXPECTATION_TTL_MS) {
      this.expected.delete(key);
      return true;
    }
    return false;
  }
}

import { setTimeout as sleep } from 'node:timers/promises';

/** What the collector needs of the image store (ImageStore.removeUnused). */
export interface UnusedImageRemover {
  removeUnused(o: { readonly olderThanMs: number; readonly inUse: ReadonlySet<string> }): Promise<string[]>;
}

export interface ImageGcOptions {
  readonly images: UnusedImageRemover;
  /** Manifest digests of the images of every task this node still holds (running or kept as history). */
  readonly inUse: () => ReadonlySet<string>;
  /** An image no task uses is kept this long after its last pull (default 24 h), so a redeploy finds it. */
  readonly keepUnusedMs?: number;
  /** How often to look (default 1 h). */
  readonly everyMs?: number;
  readonly log: (line: string) => void;
}

/**
 * Node housekeeping: removes images (pulled layout and unpacked rootfs) that no task on this node
 * uses and that nothing pulled for `keepUnusedMs`, so a node that runs for weeks does not fill its
 * disk with old versions. A failed round is logged and tried again next round.
 */
export class ImageGarbageCollector {
  constructor(private readonly o: ImageGcOptions) {}

  /** One round; returns the removed digests. */
  async collect(): Promise<string[]> {
    const removed = await this.o.images.removeUnused({ olderThanMs: this.o.keepUnusedMs ?? 24 * 3_600_000, inUse: this.o.inUse() });
    if (removed.length > 0) this.o.log(`removed ${removed.length} unused image(s): ${removed.join(', ')}`);
    return removed;
  }

  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      try {
        await sleep(this.o.everyMs ?? 3_600_000, undefined, { signal });
      } catch {
        return; // aborted
      }
      await this.collect().catch((e: unknown) => this.o.log(`image housekeeping failed: ${e instanceof Error ? e.message : String(e)}`));
    }
  }
}

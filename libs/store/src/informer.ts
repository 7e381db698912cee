import type { Etcd3, IWatchResponse } from 'etcd3';
import { settleWithin, sleep } from './abortable';
import type { Codec } from './codecs';
import { diffSnapshots, type Entry } from './informer-diff';
import { rangePrefix } from './kv';
import type { Informer, WatchEvent } from './store';

export interface InformerOptions {
  /** Pause between attempts when etcd cannot be listed; default 1 s. */
  readonly retryDelayMs?: number;
  readonly log?: (line: string) => void;
}

type WatchEnd = 'aborted' | 'cancelled';

const CANCEL_WAIT_MS = 2_000;

/**
 * List + watch of one key prefix into a read-only cache. The watch starts right after the list's
 * revision, so nothing falls between them. etcd3's watcher resumes across member restarts; when
 * etcd cancels the watch (its revision was compacted) the informer lists again, emits the
 * differences, and watches from the new list.
 */
export class EtcdInformer<T> implements Informer<T> {
  private entries = new Map<string, Entry<T>>();
  private readonly listeners = new Set<(event: WatchEvent<T>) => void>();
  /** Highest revision whose events are all in the cache: the invariant that keeps order and no duplicates. */
  private applied = 0n;
  private markSynced!: () => void;
  private readonly syncedPromise = new Promise<void>((resolve) => (this.markSynced = resolve));

  constructor(
    private readonly client: Etcd3,
    private readonly prefix: string,
    private readonly codec: Codec<T>,
    private readonly opts: InformerOptions = {},
  ) {}

  synced(): Promise<void> {
    return this.syncedPromise;
  }

  get(key: string): T | undefined {
    return this.entries.get(key)?.value;
  }

  list(): T[] {
    return [...this.entries.values()].map((e) => e.value);
  }

  subscribe(listener: (event: WatchEvent<T>) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      try {
        const listRevision = await this.relist();
        this.markSynced();
        if ((await this.watch(listRevision, signal)) === 'aborted') return;
        this.opts.log?.(`watch on ${this.prefix} was cancelled by etcd (compacted?); listing again`);
      } catch (e) {
        if (signal.aborted) return;
        this.opts.log?.(`listing ${this.prefix} failed: ${e instanceof Error ? e.message : String(e)}; retrying`);
        await sleep(this.opts.retryDelayMs ?? 1000, signal);
      }
    }
  }

  private async relist(): Promise<bigint> {
    const { kvs, revision } = await rangePrefix(this.client, this.prefix);
    const next = new Map<string, Entry<T>>();
    for (const kv of kvs) {
      next.set(this.codec.keyOf(kv.key.toString()), { value: this.codec.decode(kv), modRevision: kv.mod_revision });
    }
    const events = diffSnapshots(this.entries, next, revision);
    this.entries = next;
    this.applied = BigInt(revision);
    for (const event of events) this.emit(event);
    return this.applied;
  }

  private watch(listRevision: bigint, signal: AbortSignal): Promise<WatchEnd> {
    const watcher = this.client.watch().prefix(this.prefix).startRevision(String(listRevision + 1n)).watcher();
    return new Promise<WatchEnd>((resolve) => {
      const finish = (end: WatchEnd) => {
        signal.removeEventListener('abort', onAbort);
        // A watch etcd cancelled is already gone from the client; cancelling it again would wait forever.
        if (end === 'cancelled') resolve(end);
        else void settleWithin(watcher.cancel(), CANCEL_WAIT_MS).then(() => resolve(end));
      };
      const onAbort = () => finish('aborted');
      // etcd3 moves its resume point to the response header's revision; pin it to what we really
      // applied, so a reconnect replays anything not yet delivered instead of skipping it.
      const pin = () => ((watcher.request as { start_revision?: string }).start_revision = String(this.applied + 1n));
      watcher.on('connected', pin);
      watcher.on('data', (res: IWatchResponse) => {
        this.applyResponse(res);
        pin();
      });
      watcher.on('disconnected', () => undefined);
      watcher.on('error', () => finish('cancelled'));
      if (signal.aborted) finish('aborted');
      else signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  private applyResponse(res: IWatchResponse): void {
    let highest = this.applied;
    for (const ev of res.events) {
      const rev = BigInt(ev.kv.mod_revision);
      if (rev <= this.applied) continue; // replayed after a reconnect: already in the cache
      if (rev > highest) highest = rev;
      const key = this.codec.keyOf(ev.kv.key.toString());
      if (ev.type === 'Delete') {
        this.entries.delete(key);
        this.emit({ type: 'delete', key, revision: ev.kv.mod_revision });
      } else {
        const value = this.codec.decode(ev.kv);
        this.entries.set(key, { value, modRevision: ev.kv.mod_revision });
        this.emit({ type: 'put', key, value, revision: ev.kv.mod_revision });
      }
    }
    this.applied = highest;
  }

  private emit(event: WatchEvent<T>): void {
    for (const listener of this.listeners) listener(event);
  }
}

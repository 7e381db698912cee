import { randomBytes } from 'node:crypto';
import { compareEventIds, NotLeaderError, type ClusterEvent, type NewEvent } from '@berth/core';
import type { Etcd3, IKeyValue, IRequestOp, IWatchResponse } from 'etcd3';
import { settleWithin } from './abortable';
import { etcdCall } from './etcd-client';
import { prefixEnd, type Keyspace } from './keys';
import { ifCreateRevision, putOp, rangePrefix, txn } from './kv';
import type { LeaderFence } from './store';

/**
 * The event log on etcd: `events/<13-digit ms>-<random>`, one key per event, written by the
 * transaction that makes the change it reports (the writers call `eventOps`). An event's id is
 * `<mod_revision>.<index in its transaction>`: commit order, the same for every reader, so a
 * watch resumes after an id without loss or repetition — and reads never depend on etcd's
 * history, so compaction cannot lose an event that is still within the bound.
 */

/** What one event key holds. */
interface StoredEvent {
  /** Index of the event within its transaction: the second half of its id. */
  readonly i: number;
  readonly time: string;
  readonly event: NewEvent;
}

/** The puts that record `events` in the transaction they are passed to (indexes 0…n-1 in it). */
export function eventOps(keys: Keyspace, events: readonly NewEvent[], now: Date = new Date()): IRequestOp[] {
  const time = now.toISOString();
  const stamp = String(now.getTime()).padStart(13, '0');
  const batch = randomBytes(5).toString('hex');
  return events.map((event, i) => putOp(`${keys.events}${stamp}-${batch}-${i}`, JSON.stringify({ i, time, event } satisfies StoredEvent)));
}

export function decodeEvent(kv: IKeyValue): ClusterEvent {
  const stored = JSON.parse(kv.value.toString()) as StoredEvent;
  return { ...stored.event, id: `${kv.mod_revision}.${stored.i}`, time: stored.time };
}

const byId = (a: ClusterEvent, b: ClusterEvent) => compareEventIds(a.id, b.id);

/** How many events the log keeps, and for how long. */
export interface EventBound {
  readonly maxCount: number;
  readonly maxAgeMs: number;
}

const CANCEL_WAIT_MS = 2_000;

export class EtcdEventLog {
  constructor(
    private readonly client: Etcd3,
    private readonly keys: Keyspace,
    private readonly bound: EventBound,
  ) {}

  /**
   * The log within its bound (what trimming has not removed yet is left out), oldest first, and
   * the revision the read reflects.
   */
  async read(now: Date = new Date()): Promise<{ events: ClusterEvent[]; revision: bigint }> {
    const { kvs, revision } = await rangePrefix(this.client, this.keys.events);
    const since = new Date(now.getTime() - this.bound.maxAgeMs).toISOString();
    const events = kvs.map(decodeEvent).sort(byId).slice(-this.bound.maxCount).filter((e) => e.time >= since);
    return { events, revision: BigInt(revision) };
  }

  /**
   * The retained events after `after` (all of them without it), then every new one as it is
   * committed, until `signal` aborts. When etcd cancels the watch (its revision was compacted)
   * it reads the log again and goes on after the last event it yielded; what a reconnect
   * delivers twice is dropped by id.
   */
  async *watch(after: string | undefined, signal: AbortSignal): AsyncGenerator<ClusterEvent> {
    let last = after;
    const isNew = (e: ClusterEvent) => last === undefined || compareEventIds(e.id, last) > 0;
    while (!signal.aborted) {
      const { events, revision } = await this.read();
      for (const e of events.filter(isNew)) {
        last = e.id;
        yield e;
      }
      for await (const e of this.follow(revision + 1n, signal)) {
        if (!isNew(e)) continue;
        last = e.id;
        yield e;
      }
    }
  }

  /** Events committed from `start` on, in order, until the signal aborts or etcd cancels the watch. */
  private async *follow(start: bigint, signal: AbortSignal): AsyncGenerator<ClusterEvent> {
    const queue: ClusterEvent[] = [];
    let wake: (() => void) | undefined;
    let ended = false;
    let seen = start;
    const watcher = this.client.watch().prefix(this.keys.events).startRevision(String(start)).watcher();
    // etcd3 resumes a reconnected watch from the last response header; resume from the last
    // revision queued instead (again: the caller drops what it already has, by id).
    const pin = () => ((watcher.request as { start_revision?: string }).start_revision = String(seen));
    const end = () => {
      ended = true;
      wake?.();
    };
    watcher.on('connected', pin);
    watcher.on('data', (res: IWatchResponse) => {
      const put = res.events.filter((ev) => ev.type === 'Put');
      for (const e of put.map((ev) => decodeEvent(ev.kv)).sort(byId)) queue.push(e);
      for (const ev of put) if (BigInt(ev.kv.mod_revision) > seen) seen = BigInt(ev.kv.mod_revision);
      pin();
      wake?.();
    });
    watcher.on('disconnected', () => undefined);
    watcher.on('error', end);
    signal.addEventListener('abort', end, { once: true });
    try {
      while (!ended || queue.length > 0) {
        if (queue.length === 0) {
          await new Promise<void>((resolve) => (wake = resolve));
          wake = undefined;
          continue;
        }
        yield queue.shift()!;
      }
    } finally {
      signal.removeEventListener('abort', end);
      await settleWithin(watcher.cancel(), CANCEL_WAIT_MS);
    }
  }

  /**
   * Leader-only: removes what falls outside the bound — everything but the newest `maxCount`
   * keys, and keys older than `maxAgeMs` — with one fenced range delete. Returns how many.
   */
  async trim(fence: LeaderFence, now: Date = new Date()): Promise<number> {
    const { bound } = this;
    const prefix = this.keys.events;
    const ageCut = `${prefix}${String(now.getTime() - bound.maxAgeMs).padStart(13, '0')}`;
    // Usually within the bound: one small read (how many, and the oldest key) says so.
    const peek = await txn(this.client, 'count the event log', {
      compare: [],
      success: [
        { request_range: { key: Buffer.from(prefix), range_end: prefixEnd(prefix), count_only: true } },
        { request_range: { key: Buffer.from(prefix), range_end: prefixEnd(prefix), keys_only: true, limit: 1 } },
      ],
    });
    const count = Number(peek.responses[0]?.response_range.count ?? 0);
    const oldest = peek.responses[1]?.response_range.kvs[0]?.key.toString();
    if (count <= bound.maxCount && (oldest === undefined || oldest >= ageCut)) return 0;
    const res = await etcdCall(this.client, 'list the event log', () => this.client.kv.range({ key: Buffer.from(prefix), range_end: prefixEnd(prefix), keys_only: true }));
    const keys = res.kvs.map((kv) => kv.key.toString()).sort();
    const countCut = keys.length > bound.maxCount ? keys[keys.length - bound.maxCount]! : '';
    const cut = countCut > ageCut ? countCut : ageCut;
    const doomed = keys.filter((k) => k < cut).length;
    if (doomed === 0) return 0;
    const del = await txn(this.client, 'trim the event log', {
      compare: [ifCreateRevision(fence.leaderKey, fence.createRevision)],
      success: [{ request_delete_range: { key: Buffer.from(prefix), range_end: Buffer.from(cut) } }],
    });
    if (!del.succeeded) throw new NotLeaderError();
    return Number(del.responses[0]?.response_delete_range.deleted ?? doomed);
  }
}

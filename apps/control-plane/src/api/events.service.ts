import { Inject, Injectable, type OnModuleDestroy } from '@nestjs/common';
import type { ClusterEvent } from '@berth/core';
import { type EventQuery, matchesEventQuery } from '@berth/api';
import type { StoreReads } from '@berth/store';
import { STORE_READS } from '../tokens';
import { EVENT_HEARTBEAT_MS, ndjsonWithHeartbeat } from './event-stream';

/**
 * Reads the cluster's event log (its writers are the store's writes and the leader's loops). Any
 * replica serves it: ids are etcd revisions, so a watch resumed elsewhere loses and repeats nothing.
 */
@Injectable()
export class EventsService implements OnModuleDestroy {
  /** Aborted on shutdown: open watches end, so closing the server does not wait for clients. */
  private readonly shutdown = new AbortController();

  constructor(@Inject(STORE_READS) private readonly store: StoreReads) {}

  /** The retained events the query asks for, oldest first. */
  async list(query: EventQuery): Promise<{ items: ClusterEvent[] }> {
    return { items: (await this.store.listEvents()).filter((e) => matchesEventQuery(e, query)) };
  }

  /** ndjson lines: the retained matching events after `query.after`, then new ones, until `signal` aborts. */
  watch(query: EventQuery, signal: AbortSignal, heartbeatMs = EVENT_HEARTBEAT_MS): AsyncIterable<string> {
    const events = this.store.watchEvents(query.after, AbortSignal.any([signal, this.shutdown.signal]));
    return ndjsonWithHeartbeat(matching(events, query), heartbeatMs);
  }

  onModuleDestroy(): void {
    this.shutdown.abort();
  }
}

async function* matching(events: AsyncIterable<ClusterEvent>, query: EventQuery): AsyncGenerator<ClusterEvent> {
  for await (const e of events) if (matchesEventQuery(e, query)) yield e;
}

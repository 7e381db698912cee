import { Logger } from '@nestjs/common';
import { sleep, type Loop, Trigger } from '@berth/reconcile';
import type { LeaderFence, LeaderWrites } from '@berth/store';
import type { ClusterCache } from '../leader/cluster-cache';

export const EVENT_LOG_LOOP = 'event log';

export interface EventLogLoopOptions {
  /** Least time between two trims while changes keep coming (default 250 ms). */
  readonly spacingMs?: number;
  /** A trim at least this often, for events that age out while nothing changes (default 30 s). */
  readonly periodMs?: number;
}

/**
 * Leader-only: keeps the event log within its bound (the newest 1,000 events, none older than an
 * hour). Every event is written with a change the cluster cache sees, so a change wakes it; a
 * pass is one small read when nothing is over, and one fenced range delete when something is.
 */
export class EventLogLoop implements Loop {
  readonly name = EVENT_LOG_LOOP;
  private readonly log = new Logger('events');
  private readonly trigger = new Trigger();

  constructor(
    private readonly store: LeaderWrites,
    private readonly fence: LeaderFence,
    private readonly cluster: ClusterCache,
    private readonly opts: EventLogLoopOptions = {},
  ) {}

  async run(signal: AbortSignal): Promise<void> {
    const off = this.cluster.subscribe(() => this.trigger.kick());
    const tick = setInterval(() => this.trigger.kick(), this.opts.periodMs ?? 30_000);
    try {
      while (!signal.aborted) {
        await this.trigger.wait(signal);
        if (signal.aborted) break;
        await this.store.trimEvents(this.fence).then(
          (n) => n > 0 && this.log.debug(`trimmed ${n} event(s)`),
          (e: unknown) => this.log.warn(`trimming the event log failed: ${e instanceof Error ? e.message : String(e)}`),
        );
        await sleep(this.opts.spacingMs ?? 250, signal);
      }
    } finally {
      clearInterval(tick);
      off();
    }
  }
}

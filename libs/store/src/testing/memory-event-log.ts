import { compareEventIds, EVENT_LOG_MAX_AGE_MS, EVENT_LOG_MAX_COUNT, type ClusterEvent, type NewEvent } from '@berth/core';

const byId = (a: ClusterEvent, b: ClusterEvent) => compareEventIds(a.id, b.id);

/** The event log in memory, as EtcdEventLog keeps it: ids `<revision>.<index>`, the same bound. */
export class MemoryEventLog {
  /** Every event not trimmed yet; tests may seed it. */
  readonly events: ClusterEvent[] = [];
  private readonly listeners = new Set<() => void>();

  /** The events of one transaction, at its revision. */
  append(events: readonly NewEvent[], revision: string, time: string): void {
    if (events.length === 0) return;
    events.forEach((e, i) => this.events.push({ ...e, id: `${revision}.${i}`, time }));
    for (const l of this.listeners) l();
  }

  /** The log within its bound at `now`: the newest EVENT_LOG_MAX_COUNT, none older than EVENT_LOG_MAX_AGE_MS. */
  bounded(now: Date): ClusterEvent[] {
    const since = new Date(now.getTime() - EVENT_LOG_MAX_AGE_MS).toISOString();
    return [...this.events].sort(byId).slice(-EVENT_LOG_MAX_COUNT).filter((e) => e.time >= since);
  }

  /** What trimming at `now` would remove. */
  outside(now: Date): ClusterEvent[] {
    const kept = new Set(this.bounded(now));
    return this.events.filter((e) => !kept.has(e));
  }

  remove(doomed: readonly ClusterEvent[]): void {
    const gone = new Set(doomed);
    this.events.splice(0, this.events.length, ...this.events.filter((e) => !gone.has(e)));
  }

  /** The retained events after `after`, then each one appended, until `signal` aborts. */
  async *watch(after: string | undefined, signal: AbortSignal, now: Date): AsyncGenerator<ClusterEvent> {
    let last = after;
    const isNew = (e: ClusterEvent) => last === undefined || compareEventIds(e.id, last) > 0;
    let fresh = this.bounded(now).filter(isNew);
    while (!signal.aborted) {
      for (const e of fresh) {
        last = e.id;
        yield e;
      }
      await this.appended(signal);
      fresh = [...this.events].sort(byId).filter(isNew);
    }
  }

  private appended(signal: AbortSignal): Promise<void> {
    return new Promise<void>((resolve) => {
      if (signal.aborted) return resolve();
      const done = () => {
        this.listeners.delete(done);
        signal.removeEventListener('abort', done);
        resolve();
      };
      this.listeners.add(done);
      signal.addEventListener('abort', done, { once: true });
    });
  }
}

/**
 * The cluster's event log: what happened, one line each, written by the component that caused it
 * in the same transaction as the change (docs/task-model.md, "Events"). Bounded: the newest
 * EVENT_LOG_MAX_COUNT events, none older than EVENT_LOG_MAX_AGE_MS.
 */
export const EVENT_LOG_MAX_COUNT = 1000;
export const EVENT_LOG_MAX_AGE_MS = 60 * 60 * 1000;

export type EventKind = 'service' | 'task' | 'node' | 'rollout' | 'audit';

/** Reason codes, for scripts: stable, CamelCase, one meaning each. */
export const EVENT_REASONS = {
  service: ['Created', 'Updated', 'Scaled', 'Deleted', 'Restarted', 'Undone'],
  task: ['Scheduled', 'Started', 'Unhealthy', 'Completed', 'Failed', 'Rejected', 'Stopped', 'Orphaned', 'Replaced'],
  node: ['Registered', 'Ready', 'Down', 'Drained', 'Paused', 'Activated', 'Labeled', 'Removed'],
  rollout: ['Started', 'Progressed', 'Paused', 'Resumed', 'RollingBack', 'RolledBack', 'Completed'],
  // A mutating API request, by whom (object: token:<id>), what and its answer; Denied: refused for its role.
  audit: ['Request', 'Denied'],
} as const satisfies Record<EventKind, readonly string[]>;

export type EventReason<K extends EventKind = EventKind> = (typeof EVENT_REASONS)[K][number];

/** An event as its writer states it; the store adds the id and the time. */
export type NewEvent = {
  [K in EventKind]: {
    readonly kind: K;
    /** The service or node name, or the task id. */
    readonly object: string;
    readonly reason: EventReason<K>;
    /** One line, for people. */
    readonly message: string;
    /** The service the object belongs to (or is), for `--service`. */
    readonly service?: string;
    /** The node the object is (or runs on), for `--node`. */
    readonly node?: string;
  };
}[EventKind];

export type ClusterEvent = NewEvent & {
  /**
   * `<etcd revision>.<index>`: the order of commits, the same on every control plane. A watch
   * resumes after an id without loss or repetition.
   */
  readonly id: string;
  readonly time: string;
};

/** Orders event ids (commit order); throws on something that is not one. */
export function compareEventIds(a: string, b: string): number {
  const [ra, ia] = parseEventId(a);
  const [rb, ib] = parseEventId(b);
  return ra !== rb ? (ra < rb ? -1 : 1) : ia - ib;
}

export function parseEventId(id: string): [bigint, number] {
  const m = /^(\d{1,19})\.(\d{1,6})$/.exec(id);
  if (!m) throw new RangeError(`"${id}" is not an event id (expected REVISION.INDEX, as in an event's "id")`);
  return [BigInt(m[1]!), Number(m[2]!)];
}

/** What `berth events --service/--node` and describe filter on. */
export interface EventFilter {
  readonly service?: string;
  readonly node?: string;
  /** Only events at or after this time (ISO). */
  readonly since?: string;
}

export function matchesEvent(e: ClusterEvent, f: EventFilter): boolean {
  if (f.service !== undefined && e.service !== f.service) return false;
  if (f.node !== undefined && e.node !== f.node) return false;
  if (f.since !== undefined && e.time < f.since) return false;
  return true;
}

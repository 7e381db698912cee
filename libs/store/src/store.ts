import type {
  ClusterEvent,
  NewEvent,
  NodeAvailability,
  NodeCapacity,
  NodeInfo,
  Revision,
  Rollout,
  Service,
  ServiceDraft,
  ServiceStatus,
  Task,
  TaskStatus,
  TaskTemplate,
} from '@berth/core';

/**
 * The Store port: everything the control plane persists goes through here. The etcd
 * implementation (`EtcdStore`) is the only one shipped; unit tests use in-memory doubles.
 *
 * Key layout (under the prefix, default `/berth/v1/`):
 *   services/<name>            ServiceRecord (spec + metadata)
 *   status/services/<name>     ServiceStatus (leader-written; never bumps the spec's revision)
 *   status/rollouts/<name>     Rollout (the leader's orchestrator)
 *   history/<name>/<revision>  Revision: the last 10 specs of the service (zero-padded revision)
 *   tasks/<service>/<id>       Task
 *   nodes/<name>               NodeInfo without `state` (derived on read from alive/<name>)
 *   events/<ms>-<rand>-<i>     one event of the log, written in the transaction of its change
 *   alive/<name>               present while the node's session lease lives
 *   leader                     election key
 *
 * Errors: ConflictError on a stale resourceVersion, NotFoundError, TooLargeError when a
 * transaction exceeds etcd's limits, UnavailableError when etcd does not answer in time,
 * NotLeaderError when a fenced write finds the leader key changed.
 */
export interface Store {
  getService(name: string): Promise<Service | undefined>;
  listServices(): Promise<Service[]>;

  /**
   * Creates or replaces every draft in ONE transaction: all or nothing. A draft whose name and
   * spec and labels equal what is stored is reported `unchanged` and not written (generation
   * and resourceVersion stay). A draft carrying `resourceVersion` must match the stored one.
   * With `dryRun` nothing is written but the outcome is computed the same way.
   */
  applyServices(drafts: readonly ServiceDraft[], opts?: { dryRun?: boolean }): Promise<ApplyOutcome[]>;

  /** Deletes a service (and its status key). NotFoundError when absent. */
  deleteService(name: string, opts?: { resourceVersion?: string }): Promise<void>;

  /** Sets spec.replicas, bumping generation; optimistic on the current revision. */
  scaleService(name: string, replicas: number): Promise<Service>;

  /** The last revisions of a service (at most REVISION_HISTORY), oldest first. NotFoundError when absent. */
  listRevisions(name: string): Promise<Revision[]>;
  /**
   * Makes a revision's spec current again (`rollout undo`, and the leader's automatic rollback):
   * a new generation and revision whose spec is revision `toRevision`'s with the current
   * `replicas`, recorded in the history with `cause`. Guarded on `resourceVersion` when given
   * (ConflictError). NotFoundError when the service or that revision is gone. With `fence` and
   * `rollout`, also writes the rollout record in the same transaction (leader only).
   */
  restoreRevision(
    name: string,
    toRevision: number,
    opts: RestoreOptions,
  ): Promise<Service>;
  /**
   * `rollout restart`: a new generation and revision with the same spec; every task is outdated.
   * `imageDigest` re-pins the template's image (the digest its tag names now); null unpins it;
   * absent keeps the stored digest.
   */
  restartService(name: string, opts?: { imageDigest?: string | null }): Promise<Service>;
  /** `rollout pause|resume`: records the operator's word for the current revision. */
  controlRollout(name: string, action: 'pause' | 'resume'): Promise<Service>;

  getRollout(name: string): Promise<Rollout | undefined>;
  listRollouts(): Promise<Map<string, Rollout>>;
  /**
   * Leader-only, fenced: the orchestrator's rollout records (`status/rollouts/<name>`); undefined
   * deletes. `events` (what the change means: started, step, paused…) go in the same transaction.
   */
  putRollouts(rollouts: ReadonlyMap<string, Rollout | undefined>, fence: LeaderFence, events?: readonly NewEvent[]): Promise<void>;

  getServiceStatus(name: string): Promise<ServiceStatus | undefined>;
  listServiceStatuses(): Promise<Map<string, ServiceStatus>>;
  /** Leader-only: fenced by the leader key's create revision. */
  putServiceStatuses(statuses: ReadonlyMap<string, ServiceStatus>, fence: LeaderFence): Promise<void>;
  /** Leader-only: removes status keys of services that no longer exist. */
  deleteServiceStatuses(names: readonly string[], fence: LeaderFence): Promise<void>;

  listTasks(service?: string): Promise<TaskRecord[]>;
  getTask(id: string): Promise<TaskRecord | undefined>;
  /** Nodes with `state` derived from their alive key: `ready` while it exists, else `down`. */
  listNodes(): Promise<NodeInfo[]>;
  getNode(name: string): Promise<NodeInfo | undefined>;

  /**
   * Orchestrator (leader-only): stops, creates and forgets tasks of one service. Shutdowns go
   * first (read-modify-write, compared on each task's mod_revision and retried on conflict), then
   * creates and removes, in fenced transactions of ≤ 128 operations. New tasks get the id
   * `<service>.<slot>.<10 base36 chars>`, state `pending`, desiredState `running`.
   */
  applyTaskPlan(service: string, plan: TaskPlanWrite, fence: LeaderFence): Promise<WriteResult>;
  /**
   * Scheduler (leader-only), the ONLY writer of `nodeName`: pending tasks without a node become
   * `assigned` to it. Tasks that changed meanwhile (no longer pending, already placed, deleted,
   * desired shutdown) are skipped, never overwritten. A placement with `orphan` also marks that
   * task `orphaned` (desired shutdown, the message as why) in the same transaction, and only when
   * the placement is written.
   */
  assignNodes(placements: readonly TaskPlacement[], fence: LeaderFence): Promise<WriteResult>;
  /** Scheduler (leader-only): why a pending task fits no node, as `status.message`; written only when changed. */
  recordUnschedulable(explanations: ReadonlyMap<string, string>, fence: LeaderFence): Promise<WriteResult>;
  /**
   * Dispatcher, from one agent's reports only: forward-only (`canTransition`), ignores tasks not
   * assigned to `node` and unknown tasks, batched. Resolves once every accepted report is durable.
   */
  updateTaskStatuses(node: string, reports: readonly TaskStatusReport[]): Promise<void>;

  /**
   * Dispatcher: upserts `nodes/<name>` from an agent's Hello. Labels, address, capacity and
   * drivers come from the agent; availability is the operator's and is kept (new nodes: active).
   */
  registerNode(registration: NodeRegistration): Promise<NodeInfo>;
  /**
   * Dispatcher: binds `alive/<name>` to a new lease of `ttlSeconds`. The node is `ready` while
   * the key lives; it is `down` once the lease expires (no timer in the control plane).
   */
  openNodeSession(name: string, ttlSeconds: number): Promise<NodeSessionLease>;
  /**
   * Leader-only, fenced: records nodes as down since the given time (`status/nodes/<name>`), or
   * clears the record (`undefined`) once the node is back. listNodes and nodeInformer read it.
   * `events` go in the same transaction.
   */
  writeNodeLiveness(changes: ReadonlyMap<string, string | undefined>, fence: LeaderFence, events?: readonly NewEvent[]): Promise<void>;
  /** Operator (`berth node drain|pause|activate`). NotFoundError when the node never registered. */
  setNodeAvailability(name: string, availability: NodeAvailability): Promise<NodeInfo>;

  /**
   * The event log, oldest first: the newest EVENT_LOG_MAX_COUNT events, none older than
   * EVENT_LOG_MAX_AGE_MS. Every write above records its events in its own transaction: services
   * created/updated/scaled/deleted/restarted/undone; tasks scheduled, started, unhealthy, ended,
   * orphaned, replaced; nodes registered, ready, drained/paused/activated (down: the caller's).
   */
  listEvents(): Promise<ClusterEvent[]>;
  /**
   * The retained events after the one with id `after` (all of them without it), then each new
   * one as it is committed, in commit order, until `signal` aborts: no loss, no repetition.
   */
  watchEvents(after: string | undefined, signal: AbortSignal): AsyncIterable<ClusterEvent>;
  /** Leader-only, fenced: removes the events outside the bound; returns how many it removed. */
  trimEvents(fence: LeaderFence, now?: Date): Promise<number>;

  /** Answers when etcd can serve a linearizable read within the deadline. */
  ping(timeoutMs?: number): Promise<void>;

  /** Informers: list + watch a collection into a read-only cache. Keys are service and node
   *  names, and task ids. Each call returns a new informer; the caller runs it. */
  serviceInformer(): Informer<Service>;
  serviceStatusInformer(): Informer<ServiceStatus>;
  rolloutInformer(): Informer<Rollout>;
  taskInformer(): Informer<TaskRecord>;
  /** Nodes with `state` derived from their alive keys, as in listNodes. */
  nodeInformer(): Informer<NodeInfo>;
}

/**
 * A task as stored: the domain Task plus the service template of its specGeneration, copied at
 * creation so that updating the service never changes what an existing task runs. Records
 * written before templates were stored have none.
 */
export interface TaskRecord extends Task {
  readonly template?: TaskTemplate;
  /** Copied from the service's `spec.fencing` at creation: the agent stops it when cut off. */
  readonly fenced?: boolean;
}

/** How restoreRevision makes an earlier revision current (see there). */
export interface RestoreOptions {
  readonly cause: string;
  readonly resourceVersion?: string;
  readonly fence?: LeaderFence;
  readonly rollout?: (revision: number) => Rollout;
  /**
   * Events of the change, in its transaction; without them (the operator's `rollout undo`) the
   * store records the service `Undone`.
   */
  readonly events?: readonly NewEvent[];
}

/** A task the orchestrator creates. */
export interface NewTaskRecord {
  readonly slot: number;
  readonly specGeneration: number;
  /** Preset for global services (one task per node); otherwise the scheduler places it. */
  readonly nodeName?: string;
  readonly template: TaskTemplate;
  /** The task of a down or draining node this one replaces (Task.replaces). */
  readonly replaces?: string;
  readonly fenced?: boolean;
  /**
   * The task this one takes the place of, and why (for the `Replaced` event written with the
   * creation): a failover or drain (`replaces`), a restart, an update.
   */
  readonly succeeds?: { readonly taskId: string; readonly node?: string; readonly why: string };
}

export interface TaskPlanWrite {
  readonly create: readonly NewTaskRecord[];
  /** Task ids whose desiredState becomes `shutdown`. */
  readonly shutdown: readonly string[];
  /** Task ids whose records are deleted. */
  readonly remove: readonly string[];
}

export interface TaskPlacement {
  readonly taskId: string;
  readonly node: string;
  /** The task of a down node this placement replaces: orphaned in the same transaction. */
  readonly orphan?: { readonly taskId: string; readonly message: string };
}

/** One agent report of a task's observed status (`status.node` is filled in by the store). */
export interface TaskStatusReport {
  readonly taskId: string;
  readonly status: Omit<TaskStatus, 'node'>;
}

/** What a leader or dispatcher write changed. */
export interface WriteResult {
  /** Ids of the tasks written (created ones included). */
  readonly written: readonly string[];
  /** etcd revision of the last transaction that wrote; undefined when nothing was written. */
  readonly revision?: string;
}

/** What an agent tells about its node in Hello. */
export interface NodeRegistration {
  readonly name: string;
  readonly address: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly capacity: NodeCapacity;
  readonly drivers: readonly string[];
}

/** The lease behind a node's alive key, held by the dispatcher session of that node. */
export interface NodeSessionLease {
  /** Renews the lease (on every agent heartbeat); re-creates lease and key if it had expired. */
  keepAlive(): Promise<void>;
  /** Stops renewing; the key goes when the lease expires (a reconnect within the TTL never flaps). */
  close(): void;
}

/**
 * List + watch → cache + events (level-triggered consumers enqueue keys from events and read the
 * cache). Events arrive in revision order. After a watch is cancelled because its revision was
 * compacted, the informer re-lists and emits the differences, so the cache converges anyway.
 */
export interface Informer<T> {
  /** Lists, then watches until `signal` aborts; resolves after the watch is closed. */
  run(signal: AbortSignal): Promise<void>;
  /** Resolves once the initial list is in the cache. */
  synced(): Promise<void>;
  get(key: string): T | undefined;
  list(): T[];
  /** Returns an unsubscribe function. Listeners must not throw and must not do I/O inline. */
  subscribe(listener: (event: WatchEvent<T>) => void): () => void;
}

export type ApplyAction = 'created' | 'configured' | 'unchanged';

export interface ApplyOutcome {
  readonly name: string;
  readonly action: ApplyAction;
  /** The object as stored after the apply (or as it would be, on a dry run). */
  readonly service: Service;
}

/** Proof of leadership a fenced write compares against (the leader key's create revision). */
export interface LeaderFence {
  readonly leaderKey: string;
  readonly createRevision: string;
}

/** A change seen by an informer. */
export type WatchEvent<T> =
  | { readonly type: 'put'; readonly key: string; readonly value: T; readonly revision: string }
  | { readonly type: 'delete'; readonly key: string; readonly revision: string };

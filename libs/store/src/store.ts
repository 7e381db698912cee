import type {
  ClusterEvent,
  NewEvent,
  NodeAvailability,
  NodeCapacity,
  NodeInfo,
  Placement,
  Revision,
  Rollout,
  Runtime,
  Service,
  ServiceDraft,
  ServiceStatus,
  Task,
  TaskStatus,
  TaskTemplate,
} from '@berth/core';

/**
 * The Store port: everything the control plane persists goes through here, split into roles so
 * that the compiler checks who may write what. A component is handed only the roles it uses:
 *
 *   StoreReads          every get/list, the informers, the event log, ping        anyone
 *   ServiceWrites       apply, delete, scale, undo, restart, pause/resume          API
 *   NodeAdmin           availability, labels, removal of nodes                    API (operator)
 *   OrchestratorWrites  task plans, rollout records, automatic rollback           leader: orchestrator
 *   LeaderWrites        service statuses, node liveness, event-log trimming       leader: status, nodes, events
 *   SchedulerWrites     node assignments, unschedulable explanations              leader: scheduler only
 *   NodeSessions        registration, alive sessions, task status reports         dispatcher
 *
 * `Store` is all of them: what `EtcdStore` (the only implementation shipped) and the in-memory
 * double of `@berth/store/testing` implement, and what the composition root hands out role by role.
 * Both pass one contract suite (`runStoreContract`).
 *
 * Key layout (under the prefix, default `/berth/v1/`):
 *   services/<name>            ServiceRecord (spec + metadata)
 *   status/services/<name>     ServiceStatus (leader-written; never bumps the spec's revision)
 *   status/rollouts/<name>     Rollout (the leader's orchestrator)
 *   history/<name>/<revision>  Revision: the last 10 specs of the service (zero-padded revision)
 *   tasks/<service>/<id>       Task
 *   nodes/<name>               NodeRecord: the agent's description, the operator's availability and
 *                              labels; never `state` (derived on read from alive/ and status/nodes/)
 *   status/nodes/<name>        the leader's verdict that the node is down, and since when
 *   events/<ms>-<rand>-<i>     one event of the log, written in the transaction of its change
 *   alive/<name>               present while the node's session lease lives
 *   leader                     election key
 *
 * Errors: ConflictError on a stale resourceVersion, NotFoundError, TooLargeError when a
 * transaction exceeds etcd's limits, UnavailableError when etcd does not answer in time,
 * NotLeaderError when a fenced write finds the leader key changed (its transaction writes nothing).
 */
export type Store = StoreReads & ServiceWrites & NodeAdmin & OrchestratorWrites & LeaderWrites & SchedulerWrites & NodeSessions;

/** Every read. Reads never write and need no fence; any component may hold this role. */
export interface StoreReads {
  getService(name: string): Promise<Service | undefined>;
  /** Sorted by name. */
  listServices(): Promise<Service[]>;
  /** The last revisions of a service (at most REVISION_HISTORY), oldest first. NotFoundError when absent. */
  listRevisions(name: string): Promise<Revision[]>;

  getRollout(name: string): Promise<Rollout | undefined>;
  listRollouts(): Promise<Map<string, Rollout>>;
  getServiceStatus(name: string): Promise<ServiceStatus | undefined>;
  listServiceStatuses(): Promise<Map<string, ServiceStatus>>;

  /** Sorted by service, then id. */
  listTasks(service?: string): Promise<TaskRecord[]>;
  getTask(id: string): Promise<TaskRecord | undefined>;
  /**
   * Nodes (sorted by name) with `state` derived from their alive key, as withLiveness says, and
   * `labels` as the agent reports them overlaid with the operator's (NodeAdmin.setNodeLabels).
   */
  listNodes(): Promise<NodeInfo[]>;
  getNode(name: string): Promise<NodeInfo | undefined>;

  /**
   * The event log, oldest first: the newest EVENT_LOG_MAX_COUNT events, none older than
   * EVENT_LOG_MAX_AGE_MS. Every write records its events in its own transaction: services
   * created/updated/scaled/deleted/restarted/undone; rollouts paused/resumed (the operator's) and
   * the orchestrator's; tasks scheduled, started, unhealthy, ended, orphaned, replaced; nodes
   * registered, ready, drained/paused/activated, labeled, removed (down: the leader's).
   */
  listEvents(): Promise<ClusterEvent[]>;
  /**
   * The retained events after the one with id `after` (all of them without it), then each new
   * one as it is committed, in commit order, until `signal` aborts: no loss, no repetition.
   */
  watchEvents(after: string | undefined, signal: AbortSignal): AsyncIterable<ClusterEvent>;

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

/** The API's writes of desired state: what `berth apply|delete|scale|rollout` change. */
export interface ServiceWrites {
  /**
   * Creates or replaces every draft in ONE transaction: all or nothing. A draft whose name and
   * spec and labels equal what is stored is reported `unchanged` and not written (generation
   * and resourceVersion stay). A draft carrying `resourceVersion` must match the stored one
   * (ConflictError). With `dryRun` nothing is written but the outcome is computed the same way
   * (a dry run's created or configured service has resourceVersion "").
   */
  applyServices(drafts: readonly ServiceDraft[], opts?: { dryRun?: boolean }): Promise<ApplyOutcome[]>;
  /** Deletes a service with its status, rollout and history. NotFoundError when absent. */
  deleteService(name: string, opts?: { resourceVersion?: string }): Promise<void>;
  /** Sets spec.replicas, bumping generation (not revision); optimistic on the current revision. */
  scaleService(name: string, replicas: number): Promise<Service>;
  /**
   * `rollout undo`: makes a revision's spec current again — a new generation and revision whose
   * spec is revision `toRevision`'s with the current `replicas`, recorded in the history with
   * `cause` and in the event log as `Undone`. Guarded on `resourceVersion` when given
   * (ConflictError). NotFoundError when the service or that revision is gone.
   */
  restoreRevision(name: string, toRevision: number, opts: UndoOptions): Promise<Service>;
  /**
   * `rollout restart`: a new generation and revision with the same spec; every task is outdated.
   * `imageDigest` re-pins the template's image (the digest its tag names now); null unpins it;
   * absent keeps the stored digest.
   */
  restartService(name: string, opts?: { imageDigest?: string | null }): Promise<Service>;
  /** `rollout pause|resume`: records the operator's word for the current revision. */
  controlRollout(name: string, action: 'pause' | 'resume'): Promise<Service>;
}

/**
 * The operator's node writes (`berth node drain|pause|activate|label|rm`), each optimistic on the
 * node's record and recording its event in the same transaction. NotFoundError for a node that
 * never registered (or was removed).
 */
export interface NodeAdmin {
  setNodeAvailability(name: string, availability: NodeAvailability): Promise<NodeInfo>;
  /**
   * The operator's labels: kept apart from the agent's (which registerNode replaces on every
   * Hello), so they survive re-registration. The node's `labels` are the agent's overlaid with
   * every key the operator set, minus every key the operator removed; a later change of a key
   * replaces the earlier one (set after remove sets it again). Event `Labeled` when they changed.
   */
  setNodeLabels(name: string, change: NodeLabelChange): Promise<NodeInfo>;
  /**
   * Forgets a node: its record, its liveness verdict, its alive key and its certificates (revoked:
   * its agent must join again with a token), in one transaction with the `Removed` event.
   * ConflictError while the node is ready (its alive key exists) unless `force`. Its tasks are not touched: the
   * orchestrator treats the tasks of a node that no longer exists as lost.
   */
  removeNode(name: string, opts?: { force?: boolean }): Promise<void>;
}

/** An operator's change of a node's labels (NodeAdmin.setNodeLabels). */
export interface NodeLabelChange {
  readonly set: Readonly<Record<string, string>>;
  readonly remove: readonly string[];
}

/**
 * The orchestrator's writes (leader-only, fenced): what runs. Kept apart from LeaderWrites so that
 * the loops that only record what they observe — statuses, node verdicts, the event log's bound —
 * cannot create, stop or roll back anything.
 */
export interface OrchestratorWrites {
  /**
   * Stops, creates and forgets tasks of one service. Shutdowns go first (read-modify-write,
   * compared on each task's mod_revision and retried on conflict), then creates and removes, in
   * fenced transactions of ≤ 128 operations. New tasks get the id `<service>.<slot>.<10 base36
   * chars>`, state `pending`, desiredState `running`; a `succeeds` records `Replaced` on the old one.
   */
  applyTaskPlan(service: string, plan: TaskPlanWrite, fence: LeaderFence): Promise<WriteResult>;
  /**
   * The orchestrator's rollout records (`status/rollouts/<name>`); undefined deletes. `events`
   * (what the change means: started, step, paused…) go in the same transaction.
   */
  putRollouts(rollouts: ReadonlyMap<string, Rollout | undefined>, fence: LeaderFence, events?: readonly NewEvent[]): Promise<void>;
  /**
   * Automatic rollback: as ServiceWrites.restoreRevision, fenced, with the rollout record that
   * `rollout` makes of the new revision and the caller's events in the same transaction.
   */
  restoreRevision(name: string, toRevision: number, opts: RollbackOptions): Promise<Service>;
}

/**
 * The leader's bookkeeping (fenced): what it observed, never what runs. Status keys are apart
 * from spec keys, so these writes never move a service's resourceVersion nor wake spec watchers.
 */
export interface LeaderWrites {
  putServiceStatuses(statuses: ReadonlyMap<string, ServiceStatus>, fence: LeaderFence): Promise<void>;
  /** Removes status keys of services that no longer exist. */
  deleteServiceStatuses(names: readonly string[], fence: LeaderFence): Promise<void>;
  /**
   * Records nodes as down since the given time (`status/nodes/<name>`), or clears the record
   * (`undefined`) once the node is back. listNodes and nodeInformer read it. `events` go in the
   * same transaction.
   */
  writeNodeLiveness(changes: ReadonlyMap<string, string | undefined>, fence: LeaderFence, events?: readonly NewEvent[]): Promise<void>;
  /** Removes the events outside the bound; returns how many it removed. */
  trimEvents(fence: LeaderFence, now?: Date): Promise<number>;
}

/** The scheduler's writes (leader-only, fenced): the ONLY writers of a task's `nodeName`. */
export interface SchedulerWrites {
  /**
   * Pending tasks without a node become `assigned` to it. Tasks that changed meanwhile (no longer
   * pending, already placed, deleted, desired shutdown) are skipped, never overwritten. A
   * placement with `orphan` also marks that task `orphaned` (desired shutdown, the message as
   * why) in the same transaction, and only when the placement is written.
   * `cached` (the caller's informer cache, by task id) is tried first instead of reading the tasks
   * back: a record that changed since is caught by the write's revision compare, and that batch
   * is then read and tried again.
   */
  assignNodes(placements: readonly TaskPlacement[], fence: LeaderFence, cached?: (taskId: string) => TaskRecord | undefined): Promise<WriteResult>;
  /** Why a pending task fits no node, as `status.message`; written only when changed. */
  recordUnschedulable(explanations: ReadonlyMap<string, string>, fence: LeaderFence): Promise<WriteResult>;
}

/** The dispatcher's writes, on behalf of the connected agents (not fenced: any replica serves agents). */
export interface NodeSessions {
  /**
   * Upserts `nodes/<name>` from an agent's Hello. Labels, address, capacity and drivers come from
   * the agent; availability and the operator's labels are kept (new nodes: active, no operator labels).
   */
  registerNode(registration: NodeRegistration): Promise<NodeInfo>;
  /**
   * Binds `alive/<name>` to a new lease of `ttlSeconds`. The node is `ready` while the key lives;
   * it is `down` once the lease expires (no timer in the control plane).
   */
  openNodeSession(name: string, ttlSeconds: number): Promise<NodeSessionLease>;
  /**
   * From one agent's reports only: forward-only (`canTransition`), ignores tasks not assigned to
   * `node` and unknown tasks, batched. Resolves once every accepted report is durable.
   */
  updateTaskStatuses(node: string, reports: readonly TaskStatusReport[]): Promise<void>;
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
  /**
   * The service's `spec.placement` when the task was created: the scheduler places the task by
   * these rules, not by the service's later ones (a change of constraints or spreadBy outdates
   * the task instead, isTaskCurrent). Records written before placements were stored have none.
   */
  readonly placement?: Placement;
}

/** The operator's `rollout undo` (ServiceWrites.restoreRevision). */
export interface UndoOptions {
  readonly cause: string;
  readonly resourceVersion?: string;
}

/** The orchestrator's automatic rollback (OrchestratorWrites.restoreRevision). */
export interface RollbackOptions extends UndoOptions {
  readonly fence: LeaderFence;
  /** The rollout record of the new revision, written in its transaction. */
  readonly rollout: (revision: number) => Rollout;
  /** Events of the change, in its transaction (instead of `Undone`). */
  readonly events: readonly NewEvent[];
}

/** What an implementation of restoreRevision accepts: either of the above. */
export type RestoreOptions = UndoOptions & Partial<Pick<RollbackOptions, 'fence' | 'rollout' | 'events'>>;

/** A task the orchestrator creates. */
export interface NewTaskRecord {
  readonly slot: number;
  readonly specGeneration: number;
  /** Global services: the node the task is for (Task.targetNode); the scheduler still places it. */
  readonly targetNode?: string;
  readonly template: TaskTemplate;
  /** The service's placement, copied into the record (TaskRecord.placement). */
  readonly placement?: Placement;
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
  /** What a driver says about itself, by driver name (qemu: its acceleration); absent: nothing. */
  readonly driverDetails?: Readonly<Record<string, string>>;
  /** The task runtimes the node serves; absent from agents that predate it (see NodeInfo.runtimes). */
  readonly runtimes?: readonly Runtime[];
  readonly agentVersion?: string;
  /** `host:port` of the agent's metrics endpoint; absent when it exports none. */
  readonly metricsAddress?: string;
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

import type {
  NodeInfo,
  Service,
  ServiceDraft,
  ServiceStatus,
  Task,
} from '@berth/core';

/**
 * The Store port: everything the control plane persists goes through here. The etcd
 * implementation (`EtcdStore`) is the only one shipped; unit tests use in-memory doubles.
 *
 * Key layout (under the prefix, default `/berth/v1/`):
 *   services/<name>            ServiceRecord (spec + metadata)
 *   status/services/<name>     ServiceStatus (leader-written; never bumps the spec's revision)
 *   tasks/<service>/<id>       Task
 *   nodes/<name>               NodeInfo
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

  getServiceStatus(name: string): Promise<ServiceStatus | undefined>;
  listServiceStatuses(): Promise<Map<string, ServiceStatus>>;
  /** Leader-only: fenced by the leader key's create revision. */
  putServiceStatuses(statuses: ReadonlyMap<string, ServiceStatus>, fence: LeaderFence): Promise<void>;
  /** Leader-only: removes status keys of services that no longer exist. */
  deleteServiceStatuses(names: readonly string[], fence: LeaderFence): Promise<void>;

  listTasks(service?: string): Promise<Task[]>;
  getTask(id: string): Promise<Task | undefined>;
  listNodes(): Promise<NodeInfo[]>;
  getNode(name: string): Promise<NodeInfo | undefined>;

  /** Answers when etcd can serve a linearizable read within the deadline. */
  ping(timeoutMs?: number): Promise<void>;

  /** Informers: list + watch a collection into a read-only cache. Keys are service and node
   *  names, and task ids. Each call returns a new informer; the caller runs it. */
  serviceInformer(): Informer<Service>;
  serviceStatusInformer(): Informer<ServiceStatus>;
  taskInformer(): Informer<Task>;
  nodeInformer(): Informer<NodeInfo>;
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

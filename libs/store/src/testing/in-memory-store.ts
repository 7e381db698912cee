import {
  ConflictError,
  NotFoundError,
  NotLeaderError,
  REVISION_HISTORY,
  UnavailableError,
  ValidationError,
  type ClusterEvent,
  type NewEvent,
  type NodeAvailability,
  type NodeInfo,
  type Revision,
  type Rollout,
  type Service,
  type ServiceDraft,
  type ServiceStatus,
} from '@berth/core';
import { encodeVersioned } from '../codecs';
import {
  decodeNodeRecord,
  encodeNodeRecord,
  nodeEvents,
  nodeInfoOf,
  readyEvent,
  readyNodeConflict,
  registeredNode,
  relabeled,
  removedEvent,
  withAvailability,
  withLiveness,
  type NodeRecord,
} from '../node-records';
import { decide, decodeRecord, duplicateNames, encodeRecord, revise, revisionOf, scaled, toService, type Decision, type ServiceRecord, type StoredRecord } from '../records';
import { appliedEvents, deletedEvent, restartedEvent, rolloutControlEvent, scaledEvent, undoneEvent } from '../service-events';
import type {
  ApplyOutcome,
  Informer,
  LeaderFence,
  NodeLabelChange,
  NodeRegistration,
  NodeSessionLease,
  RestoreOptions,
  Store,
  TaskPlacement,
  TaskPlanWrite,
  TaskRecord,
  TaskStatusReport,
  WriteResult,
} from '../store';
import {
  applyReport,
  assignTask,
  latestReports,
  markUnschedulable,
  newTaskRecord,
  orphanTask,
  plannedWrites,
  replacedEvent,
  shutdownTask,
  taskEvents,
  type StoredTask,
  type TaskChangeGroup,
} from '../task-writes';
import { Collection, MemoryInformer } from './memory-collection';
import { MemoryEventLog } from './memory-event-log';

/** What a transaction changes, applied at its revision. */
type Commit = (revision: string) => void;

/** As etcd hands values back: a fresh JSON copy (undefined fields gone), never the caller's object. */
const copy = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T;
const byName = (a: { name: string }, b: { name: string }) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
const taskKey = (t: TaskRecord) => `${t.service}/${t.id}`;

/**
 * The Store port in memory, for unit tests: every write is one "transaction" at a new revision
 * (resourceVersion), decided by the same pure functions as EtcdStore (records.ts, task-writes.ts,
 * node-records.ts, service-events.ts) and recording the same events. It passes the store contract
 * suite. Leader writes are fenced against `leaderFence`; set `unavailable` to make every call fail
 * as an unreachable etcd would. No lease clock: a node is ready from the moment a session binds
 * it until that session closes.
 */
export class InMemoryStore implements Store {
  private rev = 0;
  private readonly clock: () => Date;
  private readonly revision = (): string => String(this.rev);
  readonly services = new Collection<Service>(this.revision);
  readonly statuses = new Collection<ServiceStatus>(this.revision);
  readonly rollouts = new Collection<Rollout>(this.revision);
  readonly tasks = new Collection<TaskRecord>(this.revision);
  /** Nodes as readers see them (liveness joined); the stored records are `nodeRecords`. */
  readonly nodes = new Collection<NodeInfo>(this.revision);
  private readonly log = new MemoryEventLog();
  /** The fence leader writes must carry; undefined = nobody leads, every fenced write fails. */
  leaderFence: LeaderFence | undefined;
  unavailable = false;
  /** Status writes that reached the store. */
  statusWrites = 0;
  /** Heartbeats seen per node since its last session opened. */
  readonly keepAlives = new Map<string, number>();
  private readonly records = new Map<string, StoredRecord>();
  private readonly history = new Map<string, Map<number, Revision>>();
  private readonly nodeRecords = new Map<string, { record: NodeRecord; modRevision: string }>();
  /** alive/<name>: the lease holding it and the revision it was bound at. */
  private readonly alive = new Map<string, { lease: number; revision: string }>();
  /** status/nodes/<name>: the leader's down verdicts. */
  private readonly downSince = new Map<string, string>();
  private leases = 0;

  /** `now` defaults to a clock that starts at 2026-01-01 and ticks a second per revision. */
  constructor(opts: { now?: () => Date } = {}) {
    this.clock = opts.now ?? (() => new Date(Date.UTC(2026, 0, 1, 0, 0, this.rev)));
  }

  /** The event log, unbounded until trimmed; tests may seed it. */
  get events(): ClusterEvent[] {
    return this.log.events;
  }

  // — transactions —

  private check(): void {
    if (this.unavailable) throw new UnavailableError('etcd at memory://test did not answer');
  }
  private now(): string {
    return this.clock().toISOString();
  }
  /** One transaction: its changes and its events at one new revision. */
  private commit(events: readonly NewEvent[], change: Commit): string {
    const revision = String(++this.rev);
    const time = this.now();
    change(revision);
    this.log.append(events, revision, time);
    return revision;
  }
  private requireLeader(fence: LeaderFence): void {
    if (this.leaderFence?.leaderKey !== fence.leaderKey || this.leaderFence.createRevision !== fence.createRevision) throw new NotLeaderError();
  }
  /** A leader write: as on etcd, nothing to write is no transaction, so no fence is checked either. */
  private fenced(fence: LeaderFence, size: number, events: readonly NewEvent[], change: Commit): void {
    if (size + events.length === 0) return;
    this.check();
    this.requireLeader(fence);
    this.commit(events, change);
  }

  // — services —

  async getService(name: string): Promise<Service | undefined> {
    this.check();
    return this.services.items.get(name);
  }
  async listServices(): Promise<Service[]> {
    this.check();
    return [...this.services.items.values()].sort((a, b) => byName(a.meta, b.meta));
  }

  async applyServices(drafts: readonly ServiceDraft[], opts: { dryRun?: boolean } = {}): Promise<ApplyOutcome[]> {
    this.check();
    const dups = duplicateNames(drafts);
    if (dups.length > 0) {
      throw new ValidationError(dups.map((n) => ({ path: 'metadata.name', message: `service "${n}" appears more than once` })));
    }
    const now = this.now();
    const decisions = drafts.map((d) => decide(d, this.records.get(d.name), now));
    const writes = decisions.filter((d) => d.action !== 'unchanged');
    if (opts.dryRun || writes.length === 0) return decisions.map((d) => outcome(d, ''));
    const events = writes.flatMap((d) => appliedEvents(d, this.records.get(d.name)?.record));
    const revision = this.commit(events, (rev) => {
      for (const d of writes) {
        this.putRecord(d.record, rev);
        if (d.action === 'created' || d.record.revision !== d.storedRevision) this.putHistory(d.record, 'apply');
      }
    });
    return decisions.map((d) => outcome(d, revision));
  }

  async deleteService(name: string, opts: { resourceVersion?: string } = {}): Promise<void> {
    this.check();
    const current = this.records.get(name);
    if (!current) throw new NotFoundError('service', name);
    if (opts.resourceVersion !== undefined && opts.resourceVersion !== current.modRevision) {
      throw new ConflictError(
        `service "${name}" was changed by someone else: you sent resourceVersion ${opts.resourceVersion}, ` +
          `but it is at ${current.modRevision}; get it again and retry`,
      );
    }
    this.commit([deletedEvent(name)], () => {
      this.records.delete(name);
      this.services.delete(name);
      this.statuses.delete(name);
      this.rollouts.delete(name);
      this.history.delete(name);
    });
  }

  async scaleService(name: string, replicas: number): Promise<Service> {
    this.check();
    const current = this.records.get(name);
    if (!current) throw new NotFoundError('service', name);
    const record = scaled(current.record, replicas, this.now());
    if (!record) return toService(current.record, current.modRevision);
    const revision = this.commit([scaledEvent(name, current.record.spec.replicas, replicas, 'berth scale')], (rev) => this.putRecord(record, rev));
    return toService(record, revision);
  }

  async listRevisions(name: string): Promise<Revision[]> {
    this.check();
    if (!this.records.has(name)) throw new NotFoundError('service', name);
    return [...(this.history.get(name)?.values() ?? [])].sort((a, b) => a.revision - b.revision);
  }

  async restoreRevision(name: string, toRevision: number, opts: RestoreOptions): Promise<Service> {
    return this.reviseService(name, opts, (current) => {
      const target = this.history.get(name)?.get(toRevision);
      if (!target) throw new NotFoundError('revision', `${name}@${toRevision}`, `only the last ${REVISION_HISTORY} revisions are kept; see berth rollout history ${name}`);
      const record = revise(current, { restore: target.spec }, this.now());
      return { record, events: opts.events ?? [undoneEvent(record, toRevision)] };
    });
  }

  async restartService(name: string, opts: { imageDigest?: string | null } = {}): Promise<Service> {
    return this.reviseService(name, { cause: 'restart' }, (current) => {
      const record = revise(current, { restart: true, imageDigest: opts.imageDigest }, this.now());
      return { record, events: [restartedEvent(record)] };
    });
  }

  async controlRollout(name: string, action: 'pause' | 'resume'): Promise<Service> {
    return this.reviseService(name, {}, (current) => ({
      record: { ...current, rolloutControl: { revision: current.revision, action, at: this.now() } },
      events: [rolloutControlEvent(name, action, current.revision)],
    }));
  }

  /** EtcdStore.reviseService: one record rewritten, with its history entry, rollout record and events. */
  private reviseService(
    name: string,
    opts: Omit<RestoreOptions, 'cause' | 'events'> & { cause?: string },
    change: (current: ServiceRecord) => { record: ServiceRecord; events: readonly NewEvent[] },
  ): Service {
    this.check();
    const current = this.records.get(name);
    if (!current) throw new NotFoundError('service', name);
    if (opts.resourceVersion !== undefined && current.modRevision !== opts.resourceVersion) {
      throw new ConflictError(`service "${name}" changed meanwhile (resourceVersion ${current.modRevision}, expected ${opts.resourceVersion})`);
    }
    const { record, events } = change(current.record);
    if (opts.fence) this.requireLeader(opts.fence);
    const revision = this.commit(events, (rev) => {
      this.putRecord(record, rev);
      if (opts.cause !== undefined) this.putHistory(record, opts.cause);
      if (opts.rollout) this.rollouts.put(name, copy(opts.rollout(record.revision)));
    });
    return toService(record, revision);
  }

  private putRecord(record: ServiceRecord, revision: string): void {
    const stored = decodeRecord(encodeRecord(record));
    this.records.set(record.name, { record: stored, modRevision: revision });
    this.services.put(record.name, toService(stored, revision));
  }
  private putHistory(record: ServiceRecord, cause: string): void {
    const kept = this.history.get(record.name) ?? new Map<number, Revision>();
    kept.set(record.revision, copy(revisionOf(record, cause)));
    kept.delete(record.revision - REVISION_HISTORY);
    this.history.set(record.name, kept);
  }

  // — rollouts and statuses —

  async getRollout(name: string): Promise<Rollout | undefined> {
    this.check();
    return this.rollouts.items.get(name);
  }
  async listRollouts(): Promise<Map<string, Rollout>> {
    this.check();
    return new Map(this.rollouts.items);
  }
  async putRollouts(rollouts: ReadonlyMap<string, Rollout | undefined>, fence: LeaderFence, events: readonly NewEvent[] = []): Promise<void> {
    this.fenced(fence, rollouts.size, events, () => {
      for (const [name, r] of rollouts) {
        if (r === undefined) this.rollouts.delete(name);
        else this.rollouts.put(name, copy(r));
      }
    });
  }

  async getServiceStatus(name: string): Promise<ServiceStatus | undefined> {
    this.check();
    return this.statuses.items.get(name);
  }
  async listServiceStatuses(): Promise<Map<string, ServiceStatus>> {
    this.check();
    return new Map(this.statuses.items);
  }
  async putServiceStatuses(statuses: ReadonlyMap<string, ServiceStatus>, fence: LeaderFence): Promise<void> {
    this.fenced(fence, statuses.size, [], () => {
      this.statusWrites++;
      for (const [name, status] of statuses) this.statuses.put(name, copy(status));
    });
  }
  async deleteServiceStatuses(names: readonly string[], fence: LeaderFence): Promise<void> {
    this.fenced(fence, names.length, [], () => names.forEach((name) => this.statuses.delete(name)));
  }

  // — tasks —

  async listTasks(service?: string): Promise<TaskRecord[]> {
    this.check();
    const tasks = [...this.tasks.items.values()].filter((t) => service === undefined || t.service === service);
    return tasks.sort((a, b) => (taskKey(a) < taskKey(b) ? -1 : taskKey(a) > taskKey(b) ? 1 : 0));
  }
  async getTask(id: string): Promise<TaskRecord | undefined> {
    this.check();
    return this.tasks.items.get(id);
  }

  async applyTaskPlan(service: string, plan: TaskPlanWrite, fence: LeaderFence): Promise<WriteResult> {
    const now = this.now();
    const shut = this.rewrite(
      plan.shutdown.map((id) => [[id, shutdownTask(now)]]),
      fence,
    );
    const created = plan.create.map((t) => ({ task: newTaskRecord(service, t, now), succeeds: t.succeeds }));
    const replaced = created.flatMap((c) => (c.succeeds ? [replacedEvent(service, c.task.id, c.succeeds)] : []));
    const written = [...shut.written, ...created.map((c) => c.task.id), ...plan.remove];
    if (created.length + plan.remove.length === 0) return shut;
    this.check();
    this.requireLeader(fence);
    const revision = this.commit(replaced, (rev) => {
      for (const { task } of created) this.putTaskAt(task, rev);
      for (const id of plan.remove) this.tasks.delete(id);
    });
    return { written, revision };
  }

  async assignNodes(placements: readonly TaskPlacement[], fence: LeaderFence): Promise<WriteResult> {
    const now = this.now();
    return this.rewrite(
      placements.map((p): TaskChangeGroup => [[p.taskId, assignTask(p.node, now)], ...(p.orphan ? [[p.orphan.taskId, orphanTask(p.orphan.message, now)] as const] : [])]),
      fence,
    );
  }

  async recordUnschedulable(explanations: ReadonlyMap<string, string>, fence: LeaderFence): Promise<WriteResult> {
    const now = this.now();
    return this.rewrite(
      [...explanations].map(([id, why]) => [[id, markUnschedulable(why, now)]]),
      fence,
    );
  }

  async updateTaskStatuses(node: string, reports: readonly TaskStatusReport[]): Promise<void> {
    this.rewrite([...latestReports(reports).values()].map((r) => [[r.taskId, applyReport(node, r)]]));
  }

  /** EtcdTaskWriter's read-modify-write, as one transaction: what the mutations change, with its events. */
  private rewrite(groups: readonly TaskChangeGroup[], fence?: LeaderFence): WriteResult {
    if (groups.length === 0) return { written: [] };
    this.check();
    const stored = new Map<string, StoredTask>();
    for (const [id] of groups.flat()) {
      const task = this.tasks.items.get(id);
      if (task) stored.set(id, { task, modRevision: task.resourceVersion });
    }
    const writes = plannedWrites(groups, stored);
    if (writes.length === 0) return { written: [] };
    if (fence) this.requireLeader(fence);
    const events = writes.flatMap((w) => taskEvents(w.before, w.task));
    const revision = this.commit(events, (rev) => writes.forEach((w) => this.putTaskAt(w.task, rev)));
    return { written: writes.map((w) => w.id), revision };
  }

  private putTaskAt(task: TaskRecord, revision: string): void {
    this.tasks.put(task.id, { ...(JSON.parse(encodeVersioned(task)) as TaskRecord), resourceVersion: revision });
  }

  // — nodes —

  async listNodes(): Promise<NodeInfo[]> {
    this.check();
    return [...this.nodes.items.values()].sort(byName);
  }
  async getNode(name: string): Promise<NodeInfo | undefined> {
    this.check();
    return this.nodes.items.get(name);
  }

  async registerNode(reg: NodeRegistration): Promise<NodeInfo> {
    return this.updateNode(reg.name, (current) => registeredNode(current, reg));
  }
  async setNodeAvailability(name: string, availability: NodeAvailability): Promise<NodeInfo> {
    return this.updateNode(name, (current) => withAvailability(current, name, availability));
  }
  async setNodeLabels(name: string, change: NodeLabelChange): Promise<NodeInfo> {
    return this.updateNode(name, (current) => relabeled(current, name, change));
  }

  private updateNode(name: string, change: (current: NodeRecord | undefined) => NodeRecord): NodeInfo {
    this.check();
    const current = this.nodeRecords.get(name)?.record;
    const next = change(current);
    this.commit(nodeEvents(current, next), (rev) => {
      this.nodeRecords.set(name, { record: decodeNodeRecord(encodeNodeRecord(next)), modRevision: rev });
      this.refreshNode(name);
    });
    return this.nodes.items.get(name)!;
  }

  async removeNode(name: string, opts: { force?: boolean } = {}): Promise<void> {
    this.check();
    if (!this.nodeRecords.has(name)) throw new NotFoundError('node', name);
    const ready = this.alive.has(name);
    if (ready && !opts.force) throw readyNodeConflict(name);
    this.commit([removedEvent(name, ready)], () => {
      this.nodeRecords.delete(name);
      this.downSince.delete(name);
      this.alive.delete(name);
      this.refreshNode(name);
    });
  }

  /**
   * Binds the node's alive key to a new lease, as a new session does. The key stays until the
   * session closes (when it still holds it); a heartbeat takes it back from another lease.
   */
  async openNodeSession(name: string): Promise<NodeSessionLease> {
    this.check();
    const lease = ++this.leases;
    this.bind(name, lease);
    this.keepAlives.set(name, 0);
    return {
      keepAlive: async () => {
        this.check();
        this.keepAlives.set(name, (this.keepAlives.get(name) ?? 0) + 1);
        if (this.alive.get(name)?.lease !== lease) this.bind(name, lease);
      },
      close: () => {
        if (this.alive.get(name)?.lease !== lease) return;
        this.alive.delete(name);
        this.refreshNode(name);
      },
    };
  }
  private bind(name: string, lease: number): void {
    this.commit(this.alive.has(name) ? [] : [readyEvent(name)], (rev) => {
      this.alive.set(name, { lease, revision: rev });
      this.refreshNode(name);
    });
  }

  async writeNodeLiveness(changes: ReadonlyMap<string, string | undefined>, fence: LeaderFence, events: readonly NewEvent[] = []): Promise<void> {
    this.fenced(fence, changes.size, events, () => {
      for (const [name, since] of changes) {
        if (since === undefined) this.downSince.delete(name);
        else this.downSince.set(name, since);
        this.refreshNode(name);
      }
    });
  }

  /** The node as readers see it, from its record, alive key and down verdict (gone with its record). */
  private refreshNode(name: string): void {
    const stored = this.nodeRecords.get(name);
    if (!stored) return this.nodes.delete(name);
    const liveness = { aliveRevision: this.alive.get(name)?.revision, downSince: this.downSince.get(name) };
    this.nodes.put(name, withLiveness(nodeInfoOf(stored.record, stored.modRevision), liveness));
  }

  // — the event log —

  async listEvents(): Promise<ClusterEvent[]> {
    this.check();
    return this.log.bounded(this.clock());
  }

  async *watchEvents(after: string | undefined, signal: AbortSignal): AsyncIterable<ClusterEvent> {
    this.check();
    yield* this.log.watch(after, signal, this.clock());
  }

  async trimEvents(fence: LeaderFence, now: Date = this.clock()): Promise<number> {
    this.check();
    const doomed = this.log.outside(now);
    this.fenced(fence, doomed.length, [], () => this.log.remove(doomed));
    return doomed.length;
  }

  async ping(): Promise<void> {
    this.check();
  }

  // — informers —

  serviceInformer(): Informer<Service> {
    return new MemoryInformer(this.services, this.revision);
  }
  serviceStatusInformer(): Informer<ServiceStatus> {
    return new MemoryInformer(this.statuses, this.revision);
  }
  rolloutInformer(): Informer<Rollout> {
    return new MemoryInformer(this.rollouts, this.revision);
  }
  taskInformer(): Informer<TaskRecord> {
    return new MemoryInformer(this.tasks, this.revision);
  }
  nodeInformer(): Informer<NodeInfo> {
    return new MemoryInformer(this.nodes, this.revision);
  }

  // — test setup —

  /** Stores a task as is (its resourceVersion becomes the write's revision), as if its writers had. */
  putTask(task: TaskRecord): void {
    this.commit([], (rev) => this.putTaskAt(task, rev));
  }

  /**
   * Stores a node as if it had registered: `ready` with an alive key (until a session of the node
   * closes), `down` with the leader's verdict (`downSince`, or now).
   */
  putNode(node: NodeInfo): void {
    const { state, downSince, sessionRevision, resourceVersion: _rv, ...record } = node;
    this.commit([], (rev) => {
      this.nodeRecords.set(node.name, { record: copy(record), modRevision: rev });
      if (state === 'ready') this.alive.set(node.name, { lease: 0, revision: sessionRevision ?? rev });
      else this.alive.delete(node.name);
      if (state === 'down') this.downSince.set(node.name, downSince ?? this.now());
      else this.downSince.delete(node.name);
      this.refreshNode(node.name);
    });
  }
}

function outcome(d: Decision, writtenRevision: string): ApplyOutcome {
  return { name: d.name, action: d.action, service: toService(d.record, d.keptRevision ?? writtenRevision) };
}

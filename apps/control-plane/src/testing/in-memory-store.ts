import {
  ConflictError,
  NotFoundError,
  NotLeaderError,
  UnavailableError,
  type NodeAvailability,
  type NodeInfo,
  type Revision,
  type Rollout,
  type Service,
  type ServiceDraft,
  type ServiceSpec,
  type ServiceStatus,
  REVISION_HISTORY,
  EVENT_LOG_MAX_COUNT,
  compareEventIds,
  type ClusterEvent,
  type NewEvent,
} from '@berth/core';
import {
  applyReport,
  assignTask,
  latestReports,
  markUnschedulable,
  newTaskRecord,
  orphanTask,
  sameSpecButReplicas,
  shutdownTask,
  withLiveness,
  type ApplyOutcome,
  type Informer,
  type LeaderFence,
  type RestoreOptions,
  type NodeRegistration,
  type NodeSessionLease,
  type Store,
  type TaskMutation,
  type TaskPlacement,
  type TaskPlanWrite,
  type TaskRecord,
  type TaskStatusReport,
  type WatchEvent,
  type WriteResult,
} from '@berth/store';
import { withDigest } from '../api/image-pinning';

type Listener<T> = (event: WatchEvent<T>) => void;

/** A collection with change notification: the double's stand-in for an etcd prefix + watch. */
class Collection<T> {
  readonly items = new Map<string, T>();
  private readonly listeners = new Set<Listener<T>>();
  constructor(private readonly revision: () => string) {}

  put(key: string, value: T): void {
    this.items.set(key, value);
    this.emit({ type: 'put', key, value, revision: this.revision() });
  }
  delete(key: string): void {
    if (this.items.delete(key)) this.emit({ type: 'delete', key, revision: this.revision() });
  }
  listen(l: Listener<T>): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }
  private emit(e: WatchEvent<T>): void {
    for (const l of this.listeners) l(e);
  }
}

/** An informer over a Collection: synced at once, events delivered synchronously while running. */
class MemoryInformer<T> implements Informer<T> {
  private readonly listeners = new Set<Listener<T>>();
  constructor(private readonly source: Collection<T>) {}
  async run(signal: AbortSignal): Promise<void> {
    const off = this.source.listen((e) => this.listeners.forEach((l) => l(e)));
    await new Promise<void>((resolve) => (signal.aborted ? resolve() : signal.addEventListener('abort', () => resolve(), { once: true })));
    off();
  }
  synced(): Promise<void> {
    return Promise.resolve();
  }
  get(key: string): T | undefined {
    return this.source.items.get(key);
  }
  list(): T[] {
    return [...this.source.items.values()];
  }
  subscribe(listener: Listener<T>): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

const sameContent = (s: Service, d: ServiceDraft): boolean =>
  JSON.stringify(s.spec) === JSON.stringify(d.spec) && JSON.stringify(s.meta.labels) === JSON.stringify(d.labels);

/**
 * Test double of the Store port, in memory, following the port's contract (one revision counter
 * as resourceVersion, all-or-nothing apply, fenced status writes against `leaderFence`). Set
 * `unavailable` to make every call fail as an unreachable etcd would.
 */
export class InMemoryStore implements Store {
  private rev = 0;
  private readonly now = (): string => new Date(Date.UTC(2026, 0, 1, 0, 0, this.rev)).toISOString();
  readonly services = new Collection<Service>(() => String(this.rev));
  readonly statuses = new Collection<ServiceStatus>(() => String(this.rev));
  readonly tasks = new Collection<TaskRecord>(() => String(this.rev));
  readonly nodes = new Collection<NodeInfo>(() => String(this.rev));
  readonly rollouts = new Collection<Rollout>(() => String(this.rev));
  /** Revision history per service, oldest first. */
  readonly history = new Map<string, Revision[]>();
  unavailable = false;
  /** The fence a status write must carry; undefined = nobody leads, every fenced write fails. */
  leaderFence: LeaderFence | undefined;
  statusWrites = 0;
  /** The event log as written by the writes that take events from their callers (leader loops, undo). */
  readonly events: ClusterEvent[] = [];
  private readonly eventListeners = new Set<() => void>();

  private emit(events: readonly NewEvent[]): void {
    const time = this.now();
    events.forEach((e, i) => this.events.push({ ...e, id: `${this.rev}.${i}`, time }));
    for (const l of this.eventListeners) l();
  }

  async listEvents(): Promise<ClusterEvent[]> {
    this.check();
    return this.events.slice(-EVENT_LOG_MAX_COUNT);
  }

  async *watchEvents(after: string | undefined, signal: AbortSignal): AsyncIterable<ClusterEvent> {
    let last = after;
    while (!signal.aborted) {
      const fresh = this.events.filter((e) => last === undefined || compareEventIds(e.id, last) > 0);
      for (const e of fresh) {
        last = e.id;
        yield e;
      }
      await new Promise<void>((resolve) => {
        const done = () => {
          this.eventListeners.delete(done);
          signal.removeEventListener('abort', done);
          resolve();
        };
        this.eventListeners.add(done);
        signal.addEventListener('abort', done, { once: true });
      });
    }
  }

  async trimEvents(fence: LeaderFence): Promise<number> {
    this.fenced(fence);
    const doomed = Math.max(0, this.events.length - EVENT_LOG_MAX_COUNT);
    this.events.splice(0, doomed);
    return doomed;
  }

  private check(): void {
    if (this.unavailable) throw new UnavailableError('etcd at memory://test did not answer');
  }

  async getService(name: string): Promise<Service | undefined> {
    this.check();
    return this.services.items.get(name);
  }
  async listServices(): Promise<Service[]> {
    this.check();
    return [...this.services.items.values()];
  }

  async applyServices(drafts: readonly ServiceDraft[], opts: { dryRun?: boolean } = {}): Promise<ApplyOutcome[]> {
    this.check();
    const planned = drafts.map((d) => this.plan(d));
    if (opts.dryRun) return planned.map((p) => p.outcome);
    const rev = String(++this.rev);
    return planned.map(({ outcome }) => {
      if (outcome.action === 'unchanged') return outcome;
      const service: Service = { ...outcome.service, meta: { ...outcome.service.meta, resourceVersion: rev, updatedAt: this.now() } };
      const before = this.services.items.get(service.meta.name);
      this.services.put(service.meta.name, service);
      if (before?.meta.revision !== service.meta.revision) this.record(service, 'apply');
      return { ...outcome, service };
    });
  }

  private record(service: Service, cause: string): void {
    const { name, revision, generation, updatedAt } = service.meta;
    const kept = [...(this.history.get(name) ?? []), { revision, generation, spec: service.spec, createdAt: updatedAt, cause }];
    this.history.set(name, kept.filter((r) => r.revision > revision - REVISION_HISTORY));
  }

  async listRevisions(name: string): Promise<Revision[]> {
    this.check();
    if (!this.services.items.has(name)) throw new NotFoundError('service', name);
    return [...(this.history.get(name) ?? [])];
  }

  async restoreRevision(name: string, toRevision: number, opts: RestoreOptions): Promise<Service> {
    const target = (this.history.get(name) ?? []).find((r) => r.revision === toRevision);
    const restored = await this.revise(name, opts, (s) => {
      if (!target) throw new NotFoundError('revision', `${name}@${toRevision}`);
      return { ...target.spec, replicas: s.spec.replicas };
    });
    this.emit(opts.events ?? [{ kind: 'service', object: name, service: name, reason: 'Undone', message: `rollout undone to revision ${toRevision}` }]);
    return restored;
  }

  async restartService(name: string, opts: { imageDigest?: string | null } = {}): Promise<Service> {
    const { imageDigest } = opts;
    const spec = (s: Service) => (imageDigest === undefined ? s.spec : { ...s.spec, template: withDigest(s.spec.template, imageDigest ?? undefined) });
    return this.revise(name, { cause: 'restart' }, spec, true);
  }

  async controlRollout(name: string, action: 'pause' | 'resume'): Promise<Service> {
    this.check();
    const current = this.services.items.get(name);
    if (!current) throw new NotFoundError('service', name);
    const service = { ...current, meta: { ...current.meta, resourceVersion: String(++this.rev), rolloutControl: { revision: current.meta.revision, action, at: this.now() } } };
    this.services.put(name, service);
    return service;
  }

  private revise(
    name: string,
    opts: { cause: string; resourceVersion?: string; fence?: LeaderFence; rollout?: (revision: number) => Rollout },
    spec: (current: Service) => ServiceSpec,
    restart = false,
  ): Promise<Service> {
    if (opts.fence) this.fenced(opts.fence);
    else this.check();
    const current = this.services.items.get(name);
    if (!current) return Promise.reject(new NotFoundError('service', name));
    if (opts.resourceVersion !== undefined && opts.resourceVersion !== current.meta.resourceVersion) {
      return Promise.reject(new ConflictError(`service "${name}" changed since resourceVersion ${opts.resourceVersion}`));
    }
    const generation = current.meta.generation + 1;
    const meta = {
      ...current.meta,
      generation,
      revision: current.meta.revision + 1,
      ...(restart ? { restartGeneration: generation } : {}),
      resourceVersion: String(++this.rev),
      updatedAt: this.now(),
    };
    const service: Service = { meta, spec: spec(current) };
    this.services.put(name, service);
    this.record(service, opts.cause);
    if (opts.rollout) this.rollouts.put(name, opts.rollout(meta.revision));
    return Promise.resolve(service);
  }

  async getRollout(name: string): Promise<Rollout | undefined> {
    this.check();
    return this.rollouts.items.get(name);
  }
  async listRollouts(): Promise<Map<string, Rollout>> {
    this.check();
    return new Map(this.rollouts.items);
  }
  async putRollouts(rollouts: ReadonlyMap<string, Rollout | undefined>, fence: LeaderFence, events: readonly NewEvent[] = []): Promise<void> {
    this.fenced(fence);
    this.emit(events);
    for (const [name, r] of rollouts) {
      if (r === undefined) this.rollouts.delete(name);
      else this.rollouts.put(name, r);
    }
  }
  rolloutInformer(): Informer<Rollout> {
    return new MemoryInformer(this.rollouts);
  }

  private plan(d: ServiceDraft): { outcome: ApplyOutcome } {
    const current = this.services.items.get(d.name);
    if (d.resourceVersion !== undefined && current?.meta.resourceVersion !== d.resourceVersion) {
      throw new ConflictError(`service "${d.name}" changed since resourceVersion ${d.resourceVersion}; read it again and retry`);
    }
    if (current && sameContent(current, d)) return { outcome: { name: d.name, action: 'unchanged', service: current } };
    const meta = {
      name: d.name,
      labels: d.labels,
      resourceVersion: String(this.rev + 1),
      generation: (current?.meta.generation ?? 0) + 1,
      revision: current === undefined ? 1 : current.meta.revision + (sameSpecButReplicas(current.spec, d.spec) ? 0 : 1),
      ...(current?.meta.restartGeneration === undefined ? {} : { restartGeneration: current.meta.restartGeneration }),
      ...(current?.meta.rolloutControl === undefined ? {} : { rolloutControl: current.meta.rolloutControl }),
      createdAt: current?.meta.createdAt ?? this.now(),
      updatedAt: this.now(),
    };
    return { outcome: { name: d.name, action: current ? 'configured' : 'created', service: { meta, spec: d.spec } } };
  }

  async deleteService(name: string, opts: { resourceVersion?: string } = {}): Promise<void> {
    this.check();
    const current = this.services.items.get(name);
    if (!current) throw new NotFoundError('service', name);
    if (opts.resourceVersion !== undefined && opts.resourceVersion !== current.meta.resourceVersion) {
      throw new ConflictError(`service "${name}" changed since resourceVersion ${opts.resourceVersion}`);
    }
    this.rev++;
    this.services.delete(name);
    this.statuses.delete(name);
    this.rollouts.delete(name);
    this.history.delete(name);
  }

  async scaleService(name: string, replicas: number): Promise<Service> {
    this.check();
    const current = this.services.items.get(name);
    if (!current) throw new NotFoundError('service', name);
    const [outcome] = await this.applyServices([{ name, labels: current.meta.labels, spec: { ...current.spec, replicas } }]);
    return outcome!.service;
  }

  async getServiceStatus(name: string): Promise<ServiceStatus | undefined> {
    this.check();
    return this.statuses.items.get(name);
  }
  async listServiceStatuses(): Promise<Map<string, ServiceStatus>> {
    this.check();
    return new Map(this.statuses.items);
  }

  private fenced(fence: LeaderFence): void {
    this.check();
    if (this.leaderFence?.createRevision !== fence.createRevision) throw new NotLeaderError();
    this.rev++;
  }
  async putServiceStatuses(statuses: ReadonlyMap<string, ServiceStatus>, fence: LeaderFence): Promise<void> {
    this.fenced(fence);
    this.statusWrites++;
    for (const [name, status] of statuses) this.statuses.put(name, status);
  }
  async deleteServiceStatuses(names: readonly string[], fence: LeaderFence): Promise<void> {
    this.fenced(fence);
    for (const name of names) this.statuses.delete(name);
  }

  async listTasks(service?: string): Promise<TaskRecord[]> {
    this.check();
    return [...this.tasks.items.values()].filter((t) => service === undefined || t.service === service);
  }
  async getTask(id: string): Promise<TaskRecord | undefined> {
    this.check();
    return this.tasks.items.get(id);
  }
  async listNodes(): Promise<NodeInfo[]> {
    this.check();
    return [...this.nodes.items.values()];
  }
  async getNode(name: string): Promise<NodeInfo | undefined> {
    this.check();
    return this.nodes.items.get(name);
  }
  async ping(): Promise<void> {
    this.check();
  }

  async applyTaskPlan(service: string, plan: TaskPlanWrite, fence: LeaderFence): Promise<WriteResult> {
    const shut = this.mutate(plan.shutdown.map((id) => [id, shutdownTask(this.now())]), fence);
    this.fenced(fence);
    const created = plan.create.map((t) => newTaskRecord(service, t, this.now()));
    for (const t of created) this.tasks.put(t.id, { ...t, resourceVersion: String(this.rev) });
    for (const id of plan.remove) this.tasks.delete(id);
    const written = [...shut.written, ...created.map((t) => t.id), ...plan.remove];
    return written.length > 0 ? { written, revision: String(this.rev) } : { written };
  }
  async assignNodes(placements: readonly TaskPlacement[], fence: LeaderFence): Promise<WriteResult> {
    this.fenced(fence);
    // Each placement and the orphaning it carries are one transaction, written only together.
    const written: string[] = [];
    let revision: string | undefined;
    for (const p of placements) {
      const current = this.tasks.items.get(p.taskId);
      if (!current || !assignTask(p.node, this.now())(current)) continue; // nothing placed: nothing orphaned
      const orphan: (readonly [string, TaskMutation])[] = p.orphan ? [[p.orphan.taskId, orphanTask(p.orphan.message, this.now())]] : [];
      const res = this.mutate([[p.taskId, assignTask(p.node, this.now())], ...orphan], fence);
      written.push(...res.written);
      revision = res.revision ?? revision;
    }
    return revision === undefined ? { written } : { written, revision };
  }
  async recordUnschedulable(explanations: ReadonlyMap<string, string>, fence: LeaderFence): Promise<WriteResult> {
    return this.mutate([...explanations].map(([id, why]) => [id, markUnschedulable(why, this.now())]), fence);
  }
  async updateTaskStatuses(node: string, reports: readonly TaskStatusReport[]): Promise<void> {
    this.check();
    this.mutate([...latestReports(reports).values()].map((r) => [r.taskId, applyReport(node, r)]), undefined);
  }

  /** The store's read-modify-write rules, all at one new revision (as one etcd transaction). */
  private mutate(changes: readonly (readonly [string, TaskMutation])[], fence: LeaderFence | undefined): WriteResult {
    if (fence) this.fenced(fence);
    else this.check();
    const writes = changes.flatMap(([id, m]) => {
      const current = this.tasks.items.get(id);
      const next = current && m(current);
      return next ? [next] : [];
    });
    if (writes.length === 0) return { written: [] };
    const revision = String(++this.rev);
    for (const t of writes) this.tasks.put(t.id, { ...t, resourceVersion: revision });
    return { written: writes.map((t) => t.id), revision };
  }

  async registerNode(reg: NodeRegistration): Promise<NodeInfo> {
    this.check();
    const current = this.nodes.items.get(reg.name);
    const node: NodeInfo = {
      name: reg.name,
      labels: { ...reg.labels },
      availability: current?.availability ?? 'active',
      state: current?.state ?? 'unknown',
      address: reg.address,
      capacity: reg.capacity,
      drivers: [...reg.drivers],
      resourceVersion: String(++this.rev),
    };
    this.nodes.put(node.name, node);
    return node;
  }
  /**
   * The double has no lease clock: the node is ready until the session holding its alive key
   * closes, then down at once. A newer session takes the key over, as a new lease does in etcd.
   */
  async openNodeSession(name: string): Promise<NodeSessionLease> {
    this.check();
    const lease = ++this.leases;
    this.aliveLease.set(name, lease);
    this.rev++;
    this.connected.add(name);
    this.setLiveness(name, { aliveRevision: String(this.rev) });
    this.keepAlives.set(name, 0);
    return {
      keepAlive: async () => void this.keepAlives.set(name, (this.keepAlives.get(name) ?? 0) + 1),
      close: () => {
        if (this.aliveLease.get(name) !== lease) return;
        this.aliveLease.delete(name);
        this.connected.delete(name);
        this.setLiveness(name, {});
      },
    };
  }
  private leases = 0;
  private readonly aliveLease = new Map<string, number>();
  /** Heartbeats seen per node since its last session opened. */
  readonly keepAlives = new Map<string, number>();
  /** Leader-written down records, as `status/nodes/<name>`. */
  readonly downSince = new Map<string, string>();
  private setLiveness(name: string, alive: { aliveRevision?: string }): void {
    const node = this.nodes.items.get(name);
    if (!node) return;
    const aliveRevision = alive.aliveRevision ?? (this.connected.has(name) ? (node.sessionRevision ?? String(this.rev)) : undefined);
    this.putNode(withLiveness(node, { aliveRevision, downSince: this.downSince.get(name) }));
  }
  async writeNodeLiveness(changes: ReadonlyMap<string, string | undefined>, fence: LeaderFence, events: readonly NewEvent[] = []): Promise<void> {
    this.fenced(fence);
    this.emit(events);
    for (const [name, since] of changes) {
      if (since === undefined) this.downSince.delete(name);
      else this.downSince.set(name, since);
      this.setLiveness(name, {});
    }
  }
  async setNodeAvailability(name: string, availability: NodeAvailability): Promise<NodeInfo> {
    this.check();
    const node = this.nodes.items.get(name);
    if (!node) throw new NotFoundError('node', name);
    this.putNode({ ...node, availability, resourceVersion: String(this.rev + 1) });
    return this.nodes.items.get(name)!;
  }

  /** Test setup: stores a task or node as the scheduler / dispatcher would. */
  putTask(task: TaskRecord): void {
    this.rev++;
    this.tasks.put(task.id, task);
  }
  /** A node put `ready` counts as connected (as if its alive key existed) until a session of it closes. */
  putNode(node: NodeInfo): void {
    this.rev++;
    if (node.state === 'ready') this.connected.add(node.name);
    else this.connected.delete(node.name);
    this.nodes.put(node.name, node);
  }
  private readonly connected = new Set<string>();

  serviceInformer(): Informer<Service> {
    return new MemoryInformer(this.services);
  }
  serviceStatusInformer(): Informer<ServiceStatus> {
    return new MemoryInformer(this.statuses);
  }
  taskInformer(): Informer<TaskRecord> {
    return new MemoryInformer(this.tasks);
  }
  nodeInformer(): Informer<NodeInfo> {
    return new MemoryInformer(this.nodes);
  }
}

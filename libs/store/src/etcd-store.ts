import {
  ConflictError,
  NotFoundError,
  NotLeaderError,
  ValidationError,
  type NodeInfo,
  type Service,
  type ServiceDraft,
  type NodeAvailability,
  type Revision,
  type Rollout,
  type ServiceStatus,
  REVISION_HISTORY,
  EVENT_LOG_MAX_AGE_MS,
  EVENT_LOG_MAX_COUNT,
  type ClusterEvent,
  type NewEvent,
} from '@berth/core';
import type { Etcd3, IRequestOp } from 'etcd3';
import { rolloutCodec, serviceCodec, statusCodec, taskCodec, type Codec } from './codecs';
import { etcdCall } from './etcd-client';
import { EtcdEventLog, eventOps } from './event-log';
import { EtcdInformer } from './informer';
import { keyspace, prefixEnd, type Keyspace } from './keys';
import { deleteOp, getKey, ifAbsent, ifCreateRevision, ifModRevision, putOp, rangePrefix, txn } from './kv';
import { LEADER_BATCH_OPS, tooLargeApplyMessage } from './limits';
import {
  batches,
  decide,
  decodeRecord,
  decodeRevision,
  duplicateNames,
  encodeRecord,
  encodeRevision,
  revise,
  revisionOf,
  scaled,
  toService,
  type Decision,
  type ServiceRecord,
  type StoredRecord,
} from './records';
import { NodeStateInformer } from './node-informer';
import { EtcdNodeWriter } from './node-writer';
import { appliedEvents, deletedEvent, restartedEvent, rolloutControlEvent, scaledEvent, undoneEvent } from './service-events';
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
} from './store';
import { EtcdTaskWriter } from './task-writer';

/** How often an optimistic write re-reads and retries after a concurrent change. */
const MAX_ATTEMPTS = 5;

/** The Store port on etcd (see store.ts for the contract and key layout). */
export class EtcdStore implements Store {
  private readonly keys: Keyspace;
  private readonly taskWriter: EtcdTaskWriter;
  private readonly nodeWriter: EtcdNodeWriter;
  private readonly eventLog: EtcdEventLog;

  constructor(
    private readonly client: Etcd3,
    opts: {
      prefix?: string;
      /** The etcd's --max-txn-ops (default: etcd's own, 128): sizes the task writers' batches. */
      maxTxnOps?: number;
    } = {},
  ) {
    this.keys = keyspace(opts.prefix);
    this.taskWriter = new EtcdTaskWriter(client, this.keys, opts.maxTxnOps);
    this.nodeWriter = new EtcdNodeWriter(client, this.keys);
    this.eventLog = new EtcdEventLog(client, this.keys, { maxCount: EVENT_LOG_MAX_COUNT, maxAgeMs: EVENT_LOG_MAX_AGE_MS });
  }

  async getService(name: string): Promise<Service | undefined> {
    const kv = await getKey(this.client, this.keys.service(name));
    return kv && serviceCodec.decode(kv);
  }

  async listServices(): Promise<Service[]> {
    return this.listPrefix(this.keys.services, serviceCodec);
  }

  async applyServices(drafts: readonly ServiceDraft[], opts: { dryRun?: boolean } = {}): Promise<ApplyOutcome[]> {
    const dups = duplicateNames(drafts);
    if (dups.length > 0) {
      throw new ValidationError(dups.map((n) => ({ path: 'metadata.name', message: `service "${n}" appears more than once` })));
    }
    for (let attempt = 1; ; attempt++) {
      const stored = await this.readRecords(drafts.map((d) => d.name));
      const now = new Date().toISOString();
      const decisions = drafts.map((d) => decide(d, stored.get(d.name), now));
      const writes = decisions.filter((d) => d.action !== 'unchanged');
      if (opts.dryRun || writes.length === 0) return decisions.map((d) => outcome(d, ''));
      const res = await this.writeDecisions(decisions, writes, stored);
      if (res.succeeded) return decisions.map((d) => outcome(d, res.revision));
      // Someone wrote one of these keys since we read them: recompute from fresh values (a draft
      // with a stale explicit resourceVersion now fails in decide()).
      if (attempt >= MAX_ATTEMPTS) {
        throw new ConflictError(`services ${drafts.map((d) => `"${d.name}"`).join(', ')} kept changing during the apply; try again`);
      }
      await jitter(attempt);
    }
  }

  private async writeDecisions(decisions: readonly Decision[], writes: readonly Decision[], stored: ReadonlyMap<string, StoredRecord>) {
    const success = [
      ...writes.flatMap((d) => [
        putOp(this.keys.service(d.name), encodeRecord(d.record)),
        ...(d.action === 'created' || d.record.revision !== d.storedRevision ? this.historyOps(d.record, 'apply') : []),
      ]),
      ...eventOps(
        this.keys,
        writes.flatMap((d) => appliedEvents(d, stored.get(d.name)?.record)),
      ),
    ];
    const bytes = success.reduce((n, op) => n + (op.request_put?.value?.length ?? 0), 0);
    const res = await txn(
      this.client,
      `apply ${decisions.length} service(s)`,
      {
        compare: decisions.map((d) =>
          d.guard.kind === 'absent' ? ifAbsent(this.keys.service(d.name)) : ifModRevision(this.keys.service(d.name), d.guard.modRevision),
        ),
        success,
      },
      () => tooLargeApplyMessage(decisions.length, bytes),
    );
    return { succeeded: res.succeeded, revision: res.header.revision };
  }

  async deleteService(name: string, opts: { resourceVersion?: string } = {}): Promise<void> {
    const key = this.keys.service(name);
    const compare = opts.resourceVersion
      ? ifModRevision(key, opts.resourceVersion)
      : { key: Buffer.from(key), target: 'Version' as const, result: 'Greater' as const, version: 0 };
    const history = this.keys.historyOf(name);
    const res = await txn(this.client, `delete service ${name}`, {
      compare: [compare],
      success: [
        deleteOp(key),
        deleteOp(this.keys.status(name)),
        deleteOp(this.keys.rollout(name)),
        { request_delete_range: { key: Buffer.from(history), range_end: prefixEnd(history) } },
        ...eventOps(this.keys, [deletedEvent(name)]),
      ],
      failure: [{ request_range: { key: Buffer.from(key) } }],
    });
    if (res.succeeded) return;
    const current = res.responses[0]?.response_range.kvs[0];
    if (!current) throw new NotFoundError('service', name);
    throw new ConflictError(
      `service "${name}" was changed by someone else: you sent resourceVersion ${opts.resourceVersion}, ` +
        `but it is at ${current.mod_revision}; get it again and retry`,
    );
  }

  async scaleService(name: string, replicas: number): Promise<Service> {
    const key = this.keys.service(name);
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      const kv = await getKey(this.client, key);
      if (!kv) throw new NotFoundError('service', name);
      const current = decodeRecord(kv.value.toString());
      const record = scaled(current, replicas, new Date().toISOString());
      if (!record) return toService(current, kv.mod_revision);
      const res = await txn(this.client, `scale service ${name}`, {
        compare: [ifModRevision(key, kv.mod_revision)],
        success: [putOp(key, encodeRecord(record)), ...eventOps(this.keys, [scaledEvent(name, current.spec.replicas, replicas, 'berth scale')])],
      });
      if (res.succeeded) return toService(record, res.header.revision);
      await jitter(attempt);
    }
    throw new ConflictError(`service "${name}" kept changing while scaling it; try again`);
  }

  /** The history entry of a record's (new) revision, and the removal of the one that falls out. */
  private historyOps(record: ServiceRecord, cause: string): IRequestOp[] {
    const ops = [putOp(this.keys.revision(record.name, record.revision), encodeRevision(revisionOf(record, cause)))];
    const old = record.revision - REVISION_HISTORY;
    if (old >= 1) ops.push(deleteOp(this.keys.revision(record.name, old)));
    return ops;
  }

  async listRevisions(name: string): Promise<Revision[]> {
    const [service, { kvs }] = await Promise.all([getKey(this.client, this.keys.service(name)), rangePrefix(this.client, this.keys.historyOf(name))]);
    if (!service) throw new NotFoundError('service', name);
    return kvs.map((kv) => decodeRevision(kv.value.toString())).sort((a, b) => a.revision - b.revision);
  }

  async restoreRevision(name: string, toRevision: number, opts: RestoreOptions): Promise<Service> {
    return this.reviseService(name, opts, async (current) => {
      const kv = await getKey(this.client, this.keys.revision(name, toRevision));
      if (!kv) throw new NotFoundError('revision', `${name}@${toRevision}`, `only the last ${REVISION_HISTORY} revisions are kept; see berth rollout history ${name}`);
      const record = revise(current, { restore: decodeRevision(kv.value.toString()).spec }, new Date().toISOString());
      return { record, events: opts.events ?? [undoneEvent(record, toRevision)] };
    });
  }

  async restartService(name: string, opts: { imageDigest?: string | null } = {}): Promise<Service> {
    return this.reviseService(name, { cause: 'restart' }, (current) => {
      const record = revise(current, { restart: true, imageDigest: opts.imageDigest }, new Date().toISOString());
      return { record, events: [restartedEvent(record)] };
    });
  }

  async controlRollout(name: string, action: 'pause' | 'resume'): Promise<Service> {
    return this.reviseService(name, {}, (current) => ({
      record: { ...current, rolloutControl: { revision: current.revision, action, at: new Date().toISOString() } },
      events: [rolloutControlEvent(name, action, current.revision)],
    }));
  }

  /**
   * Read-modify-write of one service record, retried on concurrent changes (unless the caller
   * named the resourceVersion it read). With a `cause`, the new revision goes into the history;
   * with a fence and `rollout`, the rollout record is written in the same transaction, as are the
   * change's events.
   */
  private async reviseService(
    name: string,
    opts: { cause?: string; resourceVersion?: string; fence?: LeaderFence; rollout?: (revision: number) => Rollout },
    change: (current: ServiceRecord) => { record: ServiceRecord; events: readonly NewEvent[] } | Promise<{ record: ServiceRecord; events: readonly NewEvent[] }>,
  ): Promise<Service> {
    const key = this.keys.service(name);
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      const kv = await getKey(this.client, key);
      if (!kv) throw new NotFoundError('service', name);
      if (opts.resourceVersion !== undefined && kv.mod_revision !== opts.resourceVersion) {
        throw new ConflictError(`service "${name}" changed meanwhile (resourceVersion ${kv.mod_revision}, expected ${opts.resourceVersion})`);
      }
      const { record, events } = await change(decodeRecord(kv.value.toString()));
      const compare = [ifModRevision(key, kv.mod_revision), ...(opts.fence ? [ifCreateRevision(opts.fence.leaderKey, opts.fence.createRevision)] : [])];
      const success = [
        putOp(key, encodeRecord(record)),
        ...(opts.cause !== undefined ? this.historyOps(record, opts.cause) : []),
        ...(opts.rollout ? [putOp(this.keys.rollout(name), JSON.stringify(opts.rollout(record.revision)))] : []),
        ...eventOps(this.keys, events),
      ];
      // On failure, read the leader key in the same txn to tell a lost term from a concurrent write.
      const failure = opts.fence ? [{ request_range: { key: Buffer.from(opts.fence.leaderKey) } }] : [];
      const res = await txn(this.client, `revise service ${name}`, { compare, success, failure });
      if (res.succeeded) return toService(record, res.header.revision);
      const leader = res.responses[0]?.response_range.kvs[0];
      if (opts.fence && leader?.create_revision !== opts.fence.createRevision) throw new NotLeaderError();
      if (opts.resourceVersion !== undefined) throw new ConflictError(`service "${name}" changed meanwhile; try again`);
      await jitter(attempt);
    }
    throw new ConflictError(`service "${name}" kept changing; try again`);
  }

  async getRollout(name: string): Promise<Rollout | undefined> {
    const kv = await getKey(this.client, this.keys.rollout(name));
    return kv && rolloutCodec.decode(kv);
  }

  async listRollouts(): Promise<Map<string, Rollout>> {
    const { kvs } = await rangePrefix(this.client, this.keys.rollouts);
    return new Map(kvs.map((kv) => [rolloutCodec.keyOf(kv.key.toString()), rolloutCodec.decode(kv)]));
  }

  async putRollouts(rollouts: ReadonlyMap<string, Rollout | undefined>, fence: LeaderFence, events: readonly NewEvent[] = []): Promise<void> {
    const ops = [...rollouts].map(([name, r]) => (r === undefined ? deleteOp(this.keys.rollout(name)) : putOp(this.keys.rollout(name), JSON.stringify(r))));
    await this.fencedBatches(ops, fence, 'write rollouts', events);
  }

  async getServiceStatus(name: string): Promise<ServiceStatus | undefined> {
    const kv = await getKey(this.client, this.keys.status(name));
    return kv && statusCodec.decode(kv);
  }

  async listServiceStatuses(): Promise<Map<string, ServiceStatus>> {
    const { kvs } = await rangePrefix(this.client, this.keys.statuses);
    return new Map(kvs.map((kv) => [statusCodec.keyOf(kv.key.toString()), statusCodec.decode(kv)]));
  }

  // Status keys are separate from spec keys, so these writes never move a service's
  // resourceVersion nor wake spec watchers.
  async writeNodeLiveness(changes: ReadonlyMap<string, string | undefined>, fence: LeaderFence, events: readonly NewEvent[] = []): Promise<void> {
    const ops = [...changes].map(([name, since]) =>
      since === undefined ? deleteOp(this.keys.nodeStatus(name)) : putOp(this.keys.nodeStatus(name), JSON.stringify({ downSince: since })),
    );
    await this.fencedBatches(ops, fence, 'write node liveness', events);
  }

  async putServiceStatuses(statuses: ReadonlyMap<string, ServiceStatus>, fence: LeaderFence): Promise<void> {
    const ops = [...statuses].map(([name, status]) => putOp(this.keys.status(name), JSON.stringify(status)));
    await this.fencedBatches(ops, fence, 'write service statuses');
  }

  async deleteServiceStatuses(names: readonly string[], fence: LeaderFence): Promise<void> {
    await this.fencedBatches(names.map((n) => deleteOp(this.keys.status(n))), fence, 'delete service statuses');
  }

  /**
   * Leader writes: each batch is its own txn, valid only while the leader key is still ours.
   * `events` go with the first batch (callers pass the events of small writes).
   */
  private async fencedBatches(ops: readonly IRequestOp[], fence: LeaderFence, what: string, events: readonly NewEvent[] = []): Promise<void> {
    const all = [...eventOps(this.keys, events), ...ops];
    for (const batch of batches(all, LEADER_BATCH_OPS)) {
      const res = await txn(this.client, what, { compare: [ifCreateRevision(fence.leaderKey, fence.createRevision)], success: batch });
      if (!res.succeeded) throw new NotLeaderError();
    }
  }

  async listEvents(): Promise<ClusterEvent[]> {
    return (await this.eventLog.read()).events;
  }

  watchEvents(after: string | undefined, signal: AbortSignal): AsyncIterable<ClusterEvent> {
    return this.eventLog.watch(after, signal);
  }

  trimEvents(fence: LeaderFence, now?: Date): Promise<number> {
    return this.eventLog.trim(fence, now);
  }

  listTasks(service?: string): Promise<TaskRecord[]> {
    return this.listPrefix(this.keys.tasksOf(service), taskCodec);
  }

  async getTask(id: string): Promise<TaskRecord | undefined> {
    const kv = await getKey(this.client, this.keys.task(id));
    return kv && taskCodec.decode(kv);
  }

  listNodes(): Promise<NodeInfo[]> {
    return this.nodeWriter.list();
  }

  getNode(name: string): Promise<NodeInfo | undefined> {
    return this.nodeWriter.get(name);
  }

  applyTaskPlan(service: string, plan: TaskPlanWrite, fence: LeaderFence): Promise<WriteResult> {
    return this.taskWriter.applyTaskPlan(service, plan, fence);
  }

  assignNodes(placements: readonly TaskPlacement[], fence: LeaderFence, cached?: (taskId: string) => TaskRecord | undefined): Promise<WriteResult> {
    return this.taskWriter.assignNodes(placements, fence, cached);
  }

  recordUnschedulable(explanations: ReadonlyMap<string, string>, fence: LeaderFence): Promise<WriteResult> {
    return this.taskWriter.recordUnschedulable(explanations, fence);
  }

  updateTaskStatuses(node: string, reports: readonly TaskStatusReport[]): Promise<void> {
    return this.taskWriter.updateTaskStatuses(node, reports);
  }

  registerNode(registration: NodeRegistration): Promise<NodeInfo> {
    return this.nodeWriter.register(registration);
  }

  openNodeSession(name: string, ttlSeconds: number): Promise<NodeSessionLease> {
    return this.nodeWriter.openSession(name, ttlSeconds);
  }

  setNodeAvailability(name: string, availability: NodeAvailability): Promise<NodeInfo> {
    return this.nodeWriter.setAvailability(name, availability);
  }

  setNodeLabels(name: string, change: NodeLabelChange): Promise<NodeInfo> {
    return this.nodeWriter.setLabels(name, change);
  }

  removeNode(name: string, opts: { force?: boolean } = {}): Promise<void> {
    return this.nodeWriter.remove(name, opts);
  }

  async ping(timeoutMs = 2_000): Promise<void> {
    await etcdCall(this.client, 'ping', () =>
      this.client.kv.range({ key: Buffer.from(this.keys.leader) }, { deadline: Date.now() + timeoutMs }),
    );
  }

  serviceInformer(): Informer<Service> {
    return new EtcdInformer(this.client, this.keys.services, serviceCodec);
  }

  serviceStatusInformer(): Informer<ServiceStatus> {
    return new EtcdInformer(this.client, this.keys.statuses, statusCodec);
  }

  rolloutInformer(): Informer<Rollout> {
    return new EtcdInformer(this.client, this.keys.rollouts, rolloutCodec);
  }

  taskInformer(): Informer<TaskRecord> {
    return new EtcdInformer(this.client, this.keys.tasks, taskCodec);
  }

  nodeInformer(): Informer<NodeInfo> {
    return new NodeStateInformer(this.client, this.keys);
  }

  /** One consistent snapshot of the named services (one range read, within any txn-ops limit). */
  private async readRecords(names: readonly string[]): Promise<Map<string, StoredRecord>> {
    const wanted = new Set(names);
    const { kvs } = await rangePrefix(this.client, this.keys.services);
    const out = new Map<string, StoredRecord>();
    for (const kv of kvs) {
      const name = serviceCodec.keyOf(kv.key.toString());
      if (wanted.has(name)) out.set(name, { record: decodeRecord(kv.value.toString()), modRevision: kv.mod_revision });
    }
    return out;
  }

  private async listPrefix<T>(prefix: string, codec: Codec<T>): Promise<T[]> {
    const { kvs } = await rangePrefix(this.client, prefix);
    return kvs.map((kv) => codec.decode(kv));
  }
}

/** Spreads out writers that collided, so they do not collide again in lockstep. */
function jitter(attempt: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.random() * 20 * attempt));
}

function outcome(d: Decision, writtenRevision: string): ApplyOutcome {
  return { name: d.name, action: d.action, service: toService(d.record, d.keptRevision ?? writtenRevision) };
}


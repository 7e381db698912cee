import { ConflictError, NotLeaderError } from '@berth/core';
import type { Etcd3, ICompare, IRequestOp } from 'etcd3';
import { encodeVersioned, taskCodec } from './codecs';
import type { Keyspace } from './keys';
import { deleteOp, ifCreateRevision, ifModRevision, putOp, txn } from './kv';
import { eventOps } from './event-log';
import { ETCD_DEFAULT_MAX_TXN_OPS, TASK_TXN_BYTES, taskBatchFor } from './limits';
import type { LeaderFence, NewTaskRecord, TaskPlacement, TaskPlanWrite, TaskRecord, TaskStatusReport, WriteResult } from './store';
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
  type TaskChangeGroup as Group,
  type TaskMutation,
} from './task-writes';
import type { NewEvent } from '@berth/core';
import { WriteCombiner } from './write-combiner';

/**
 * Status writes under way at once. Reports of every connected node queue together and each write
 * takes up to a batch of them (taskBatchFor): agents mostly report one task at a time, and a transaction per
 * report was most of what the control plane and etcd did while many tasks started.
 */
const STATUS_WRITES = 4;

/** Re-reads and retries a batch whose tasks changed under it at most this often. */
const MAX_ATTEMPTS = 8;


/** Consecutive batches of at most `size` items and `maxBytes` bytes (an item larger than that alone). */
export function sizedBatches<T>(items: readonly T[], size: number, bytes: (item: T) => number, maxBytes = TASK_TXN_BYTES): T[][] {
  const out: T[][] = [];
  let current: T[] = [];
  let used = 0;
  for (const item of items) {
    const b = bytes(item);
    if (current.length > 0 && (current.length >= size || used + b > maxBytes)) {
      out.push(current);
      current = [];
      used = 0;
    }
    current.push(item);
    used += b;
  }
  if (current.length > 0) out.push(current);
  return out;
}

/** Consecutive groups packed into batches of at most `size` changes; a group is never split. */
function groupBatches(groups: readonly Group[], size: number): Group[][] {
  const out: Group[][] = [];
  let current: Group[] = [];
  let count = 0;
  for (const g of groups) {
    if (count + g.length > size && current.length > 0) {
      out.push(current);
      current = [];
      count = 0;
    }
    current.push(g);
    count += g.length;
  }
  if (current.length > 0) out.push(current);
  return out;
}

/** Collects the outcome of several transactions into one WriteResult. */
class Written {
  readonly ids: string[] = [];
  revision: string | undefined;
  add(ids: readonly string[], revision: string): void {
    if (ids.length === 0) return;
    this.ids.push(...ids);
    if (this.revision === undefined || BigInt(revision) > BigInt(this.revision)) this.revision = revision;
  }
  result(): WriteResult {
    return { written: this.ids, ...(this.revision !== undefined ? { revision: this.revision } : {}) };
  }
}

/**
 * Task writes on etcd. Every task field lives in one key and several writers own different fields
 * (orchestrator: desiredState; scheduler: nodeName; dispatcher: status), so every change is a
 * read-modify-write compared on the key's mod_revision: a concurrent writer's change is re-read,
 * never overwritten. Leader writes also compare the leader key (fencing).
 */
export class EtcdTaskWriter {
  /** Task changes per transaction (taskBatchFor the etcd's operation limit). */
  private readonly batch: number;
  private readonly statusWrites: WriteCombiner<readonly [string, TaskMutation]>;

  constructor(
    private readonly client: Etcd3,
    private readonly keys: Keyspace,
    maxTxnOps = ETCD_DEFAULT_MAX_TXN_OPS,
  ) {
    this.batch = taskBatchFor(maxTxnOps);
    this.statusWrites = new WriteCombiner((changes) => this.rewrite(changes, undefined, new Written()), { batch: this.batch, concurrency: STATUS_WRITES });
  }

  async applyTaskPlan(service: string, plan: TaskPlanWrite, fence: LeaderFence): Promise<WriteResult> {
    const out = new Written();
    const now = new Date().toISOString();
    await this.rewrite(plan.shutdown.map((id) => [id, shutdownTask(now)]), fence, out);
    const ops: { id: string; op: IRequestOp; bytes: number; event?: NewEvent }[] = [
      ...plan.create.map((t: NewTaskRecord) => {
        const task = newTaskRecord(service, t, now);
        const value = encodeVersioned(task);
        return { id: task.id, op: putOp(this.keys.task(task.id), value), bytes: value.length, event: t.succeeds && replacedEvent(service, task.id, t.succeeds) };
      }),
      ...plan.remove.map((id) => ({ id, op: deleteOp(this.keys.task(id)), bytes: id.length })),
    ];
    for (const batch of sizedBatches(ops, this.batch, (o) => o.bytes)) {
      const events = batch.flatMap((b) => (b.event ? [b.event] : []));
      const res = await txn(this.client, `write tasks of ${service}`, {
        compare: [ifCreateRevision(fence.leaderKey, fence.createRevision)],
        success: [...batch.map((b) => b.op), ...eventOps(this.keys, events)],
      });
      if (!res.succeeded) throw new NotLeaderError();
      out.add(
        batch.map((b) => b.id),
        res.header.revision,
      );
    }
    return out.result();
  }

  async assignNodes(placements: readonly TaskPlacement[], fence: LeaderFence, cached?: (taskId: string) => TaskRecord | undefined): Promise<WriteResult> {
    const now = new Date().toISOString();
    const out = new Written();
    // A placement that replaces a task of a down node orphans that task in the same transaction,
    // and only if the placement itself is written: a task is never orphaned without a replacement.
    const groups = placements.map((p): Group => [[p.taskId, assignTask(p.node, now)], ...(p.orphan ? [[p.orphan.taskId, orphanTask(p.orphan.message, now)] as const] : [])]);
    await this.rewriteGroups(groups, fence, out, cached);
    return out.result();
  }

  async recordUnschedulable(explanations: ReadonlyMap<string, string>, fence: LeaderFence): Promise<WriteResult> {
    const now = new Date().toISOString();
    const out = new Written();
    await this.rewrite(
      [...explanations].map(([id, why]) => [id, markUnschedulable(why, now)]),
      fence,
      out,
    );
    return out.result();
  }

  /** Resolves once the reports are durable; they share transactions with other nodes' reports (WriteCombiner). */
  async updateTaskStatuses(node: string, reports: readonly TaskStatusReport[]): Promise<void> {
    const latest = [...latestReports(reports).values()];
    await this.statusWrites.submit(latest.map((r) => [r.taskId, applyReport(node, r)] as const));
  }

  /** Applies each mutation to its task, in batches that fit one transaction (compares included). */
  private async rewrite(changes: readonly (readonly [string, TaskMutation])[], fence: LeaderFence | undefined, out: Written): Promise<void> {
    await this.rewriteGroups(
      changes.map((c) => [c]),
      fence,
      out,
    );
  }

  /**
   * Like rewrite, for groups of linked changes: a group is written only when its first change
   * writes, and always in the same transaction as that change.
   */
  private async rewriteGroups(groups: readonly Group[], fence: LeaderFence | undefined, out: Written, cached?: (id: string) => TaskRecord | undefined): Promise<void> {
    for (const batch of groupBatches(groups, this.batch)) await this.rewriteBatch(batch, fence, out, cached);
  }

  /** `cached`: the first attempt goes by these records (their resourceVersion is the compared mod_revision) when it has them all. */
  private async rewriteBatch(groups: readonly Group[], fence: LeaderFence | undefined, out: Written, cached?: (id: string) => TaskRecord | undefined): Promise<void> {
    const ids = [...new Set(groups.flatMap((g) => g.map(([id]) => id)))];
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      const stored = (attempt === 1 && cached && fromCache(ids, cached)) || (await this.read(ids));
      const writes = plannedWrites(groups, stored);
      if (writes.length === 0) return;
      // Records carry templates: a batch too large for one transaction goes as two (a group never split).
      if (groups.length > 1 && writes.reduce((n, w) => n + encodeVersioned(w.task).length, 0) > TASK_TXN_BYTES) {
        const half = Math.ceil(groups.length / 2);
        await this.rewriteBatch(groups.slice(0, half), fence, out, cached);
        await this.rewriteBatch(groups.slice(half), fence, out, cached);
        return;
      }
      const compare: ICompare[] = writes.map((w) => ifModRevision(this.keys.task(w.id), w.modRevision));
      if (fence) compare.unshift(ifCreateRevision(fence.leaderKey, fence.createRevision));
      const res = await txn(this.client, `update ${writes.length} task(s)`, {
        compare,
        success: [...writes.map((w) => putOp(this.keys.task(w.id), encodeVersioned(w.task))), ...eventOps(this.keys, writes.flatMap((w) => taskEvents(w.before, w.task)))],
        failure: fence ? [{ request_range: { key: Buffer.from(fence.leaderKey) } }] : [],
      });
      if (res.succeeded) {
        out.add(
          writes.map((w) => w.id),
          res.header.revision,
        );
        return;
      }
      const leader = res.responses[0]?.response_range.kvs[0];
      if (fence && leader?.create_revision !== fence.createRevision) throw new NotLeaderError();
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 10 * attempt));
    }
    throw new ConflictError(`tasks ${ids.slice(0, 3).join(', ')}… kept changing while writing them; will retry`);
  }

  /** The named tasks at one revision: one transaction of range reads. */
  private async read(ids: readonly string[]): Promise<Map<string, StoredTask>> {
    const res = await txn(this.client, `read ${ids.length} task(s)`, {
      compare: [],
      success: ids.map((id) => ({ request_range: { key: Buffer.from(this.keys.task(id)) } })),
    });
    const out = new Map<string, StoredTask>();
    res.responses.forEach((r, i) => {
      const kv = r.response_range?.kvs[0];
      if (kv) out.set(ids[i]!, { task: taskCodec.decode(kv) as TaskRecord, modRevision: kv.mod_revision });
    });
    return out;
  }
}

/** The tasks as the caller's cache has them, when it has every one (else undefined: read them). */
function fromCache(ids: readonly string[], cached: (id: string) => TaskRecord | undefined): Map<string, StoredTask> | undefined {
  const out = new Map<string, StoredTask>();
  for (const id of ids) {
    const task = cached(id);
    if (!task) return undefined;
    out.set(id, { task, modRevision: task.resourceVersion });
  }
  return out;
}

import { randomBytes } from 'node:crypto';
import { canTransition, isTaskUp, isTerminal, type NewEvent } from '@berth/core';
import { canonicalJson } from '@berth/core';
import type { NewTaskRecord, TaskRecord, TaskStatusReport } from './store';

/**
 * The pure halves of the task writes: each mutation takes the stored task and returns the task
 * to write, or undefined when nothing must be written (so the caller skips the key).
 */
export type TaskMutation = (task: TaskRecord) => TaskRecord | undefined;

const ID_ALPHABET = '0123456789abcdefghijklmnopqrstuvwxyz';

/** Task ids are at most this long (they name cgroups, runc containers, log files and state files). */
export const MAX_TASK_ID = 64;

/**
 * `<service>.<slot>.<10 random base36 chars>`: unique for all time, never reused by a restart.
 * With the longest service name (48) and a 5-digit slot the suffix has 9 characters, so the id
 * stays within MAX_TASK_ID; the suffix never has fewer than 8.
 */
export function newTaskId(service: string, slot: number, random: (n: number) => Buffer = randomBytes): string {
  const prefix = `${service}.${slot}.`;
  const bytes = random(Math.max(8, Math.min(10, MAX_TASK_ID - prefix.length)));
  let suffix = '';
  for (const b of bytes) suffix += ID_ALPHABET[b % 36];
  return `${prefix}${suffix}`;
}

export function newTaskRecord(service: string, t: NewTaskRecord, now: string, id = newTaskId(service, t.slot)): TaskRecord {
  return {
    id,
    service,
    slot: t.slot,
    specGeneration: t.specGeneration,
    desiredState: 'running',
    // Never nodeName: the scheduler is its only writer, global tasks included (targetNode).
    ...(t.targetNode ? { targetNode: t.targetNode } : {}),
    ...(t.replaces ? { replaces: t.replaces } : {}),
    ...(t.fenced ? { fenced: true } : {}),
    status: { state: 'pending', updatedAt: now },
    createdAt: now,
    resourceVersion: '',
    template: t.template,
    ...(t.placement ? { placement: t.placement } : {}),
  };
}

/**
 * desiredState → shutdown. A task no agent was ever given (pending, no node) has nobody to report
 * its end, so it is recorded `shutdown` at once; otherwise it would stay pending forever and keep
 * a deleted service's records alive.
 */
export function shutdownTask(now: string): TaskMutation {
  return (t) => {
    if (t.desiredState !== 'running') return undefined;
    if (t.status.state === 'pending' && !t.nodeName) {
      return { ...t, desiredState: 'shutdown', status: { state: 'shutdown', message: 'stopped before it was placed on a node', updatedAt: now } };
    }
    return { ...t, desiredState: 'shutdown' };
  };
}

/** Only a pending, unplaced task that is still wanted gets a node. */
export function assignTask(node: string, now: string): TaskMutation {
  return (t) =>
    t.status.state === 'pending' && !t.nodeName && t.desiredState === 'running'
      ? { ...t, nodeName: node, status: { state: 'assigned', node, updatedAt: now } }
      : undefined;
}

/**
 * A task of a down node whose replacement was just placed: it will never be counted again.
 * `orphaned` is terminal, so the agent's late reports (it may still run, cut off) never revive
 * it, and desiredState `shutdown` takes it out of its node's assignments: when the node returns,
 * its agent stops and forgets it. The one status the leader writes (docs/task-model.md).
 */
export function orphanTask(message: string, now: string): TaskMutation {
  return (t) => (isTerminal(t.status.state) ? undefined : { ...t, desiredState: 'shutdown', status: { ...t.status, state: 'orphaned', message, updatedAt: now } });
}

export function markUnschedulable(explanation: string, now: string): TaskMutation {
  return (t) =>
    t.status.state === 'pending' && !t.nodeName && t.status.message !== explanation
      ? { ...t, status: { ...t.status, message: explanation, updatedAt: now } }
      : undefined;
}

/**
 * An agent's report: forward-only, and only for tasks placed on the reporting node. A report in
 * the same state is written when anything else changed — health moves while a task stays
 * `running` — and skipped when only its timestamp did.
 */
export function applyReport(node: string, report: TaskStatusReport): TaskMutation {
  return (t) => {
    if (t.nodeName !== node || !canTransition(t.status.state, report.status.state)) return undefined;
    const firstUp = t.status.upAt === undefined && isTaskUp({ status: report.status, template: t.template }) ? report.status.updatedAt : undefined;
    const upAt = t.status.upAt ?? firstUp;
    const status = { ...report.status, node, ...(upAt === undefined ? {} : { upAt }) };
    if (canonicalJson({ ...status, updatedAt: '' }) === canonicalJson({ ...t.status, updatedAt: '' })) return undefined;
    return { ...t, status };
  };
}

/** The last report of each task wins (reports in one batch arrive in sequence order). */
export function latestReports(reports: readonly TaskStatusReport[]): Map<string, TaskStatusReport> {
  const out = new Map<string, TaskStatusReport>();
  for (const r of reports) out.set(r.taskId, r);
  return out;
}

/**
 * What a task write means, as events: placed on a node, started, unhealthy, ended (completed,
 * failed, rejected, stopped, orphaned). Derived from the stored task and the one written, so
 * every writer's change of the same kind reads the same.
 */
export function taskEvents(before: TaskRecord, after: TaskRecord): NewEvent[] {
  const node = after.nodeName ?? after.status.node;
  const about = { kind: 'task', object: after.id, service: after.service, ...(node ? { node } : {}) } as const;
  const out: NewEvent[] = [];
  if (!before.nodeName && after.nodeName) out.push({ ...about, reason: 'Scheduled', message: `scheduled on ${after.nodeName}` });
  const { state, message, exitCode } = after.status;
  if (state !== before.status.state) {
    const why = message ? `: ${message}` : exitCode !== undefined ? `: exited with code ${exitCode}` : '';
    if (state === 'running') out.push({ ...about, reason: 'Started', message: `started${node ? ` on ${node}` : ''}${after.status.ip ? ` (${after.status.ip})` : ''}` });
    else if (state === 'complete') out.push({ ...about, reason: 'Completed', message: `completed${why}` });
    else if (state === 'failed') out.push({ ...about, reason: 'Failed', message: `failed${why}` });
    else if (state === 'rejected') out.push({ ...about, reason: 'Rejected', message: `rejected${why}` });
    else if (state === 'shutdown') out.push({ ...about, reason: 'Stopped', message: `stopped${message ? `: ${message}` : ''}` });
    else if (state === 'orphaned') out.push({ ...about, reason: 'Orphaned', message: `orphaned${why}` });
  }
  if (after.status.health === 'unhealthy' && before.status.health !== 'unhealthy') {
    out.push({ ...about, reason: 'Unhealthy', message: `unhealthy${message ? `: ${message}` : ''}` });
  }
  return out;
}

/** A task as read, with its key's mod_revision (the compare of its write). */
export interface StoredTask {
  readonly task: TaskRecord;
  readonly modRevision: string;
}

/** Linked changes: the first decides whether the others are written (a placement and the orphaning it carries). */
export type TaskChangeGroup = readonly (readonly [string, TaskMutation])[];

export interface PlannedTaskWrite {
  readonly id: string;
  /** As stored: what the write's events are told against. */
  readonly before: TaskRecord;
  readonly task: TaskRecord;
  readonly modRevision: string;
}

/**
 * What each group's mutations make of the stored tasks, in order; a group whose first change is a
 * no-op (or whose first task is gone) writes nothing. Later changes of a task apply to the earlier
 * ones' result.
 */
export function plannedWrites(groups: readonly TaskChangeGroup[], stored: ReadonlyMap<string, StoredTask>): PlannedTaskWrite[] {
  const writes = new Map<string, PlannedTaskWrite>();
  for (const group of groups) {
    const planned = group.map(([id, mutate]) => {
      const current = stored.get(id);
      const next = current && mutate(writes.get(id)?.task ?? current.task);
      return current && next ? { id, before: current.task, task: next, modRevision: current.modRevision } : undefined;
    });
    if (!planned[0]) continue;
    for (const w of planned) if (w) writes.set(w.id, w);
  }
  return [...writes.values()];
}

/** The `Replaced` event of the task a new one takes the place of. */
export function replacedEvent(service: string, newId: string, old: NonNullable<NewTaskRecord['succeeds']>): NewEvent {
  return { kind: 'task', object: old.taskId, service, ...(old.node ? { node: old.node } : {}), reason: 'Replaced', message: `replaced by ${newId}: ${old.why}` };
}

import { isTaskCurrent, isTerminal, type NewEvent, type NodeInfo, type Rollout, type Service } from '@berth/core';
import type { NewTask, PlannedTask } from './plan';
import { newest } from './task-facts';

/**
 * What the orchestrator's writes mean, as events (pure): rollout steps, and which task a new one
 * takes the place of, and why.
 */

/** The events of writing rollout record `next` over `prev` (the last one written or cached). */
export function rolloutEvents(name: string, prev: Rollout | undefined, next: Rollout | undefined): NewEvent[] {
  if (!next) return [];
  const about = { kind: 'rollout', object: name, service: name } as const;
  const r = next.revision;
  const fresh = prev?.revision !== next.revision;
  const out: NewEvent[] = [];
  // A new service's first revision replaces nothing: its `Created` says it all.
  if (fresh && next.rollbackOf === undefined && next.previousRevision !== undefined && next.state !== 'completed') {
    out.push({ ...about, reason: 'Started', message: `rollout of revision ${r} started from revision ${next.previousRevision}: ${next.total} slot(s) to update` });
  }
  if (!fresh && next.updated > (prev?.updated ?? 0) && !(next.state === 'completed' || next.state === 'rolled-back')) {
    out.push({ ...about, reason: 'Progressed', message: `revision ${r}: ${next.updated}/${next.total} updated${next.failed > 0 ? `, ${next.failed} failure(s)` : ''}` });
  }
  if (fresh || prev?.state !== next.state) {
    switch (next.state) {
      case 'paused':
        out.push({ ...about, reason: 'Paused', message: `rollout of revision ${r} paused: ${next.reason ?? 'paused'}` });
        break;
      case 'rolled-back':
        out.push({ ...about, reason: 'RolledBack', message: `rolled back to revision ${r}${next.rollbackReason ? ` after: ${next.rollbackReason}` : ''}` });
        break;
      case 'completed':
        if (!fresh || next.total > 0) out.push({ ...about, reason: 'Completed', message: `revision ${r} rolled out: ${next.updated}/${next.total} updated` });
        break;
      case 'updating':
        if (prev?.state === 'paused' && !fresh) out.push({ ...about, reason: 'Resumed', message: `rollout of revision ${r} goes on` });
        break;
      case 'rolling-back':
        break; // written with the rollback itself (rollingBackEvent)
    }
  }
  return out;
}

/** The event written with an automatic rollback. */
export function rollingBackEvent(name: string, failed: Rollout, toRevision: number): NewEvent {
  return {
    kind: 'rollout',
    object: name,
    service: name,
    reason: 'RollingBack',
    message: `rolling back revision ${failed.revision} to revision ${toRevision}: ${failed.reason ?? 'update failed'}`,
  };
}

/** Which task a new one takes the place of, why (for its `Replaced` event), and the cause in one word. */
export interface Successor {
  readonly taskId: string;
  readonly node?: string;
  readonly why: string;
  /** moved: off a down, draining or removed node; restart: after it ended; update: a rollout step. */
  readonly cause: 'moved' | 'restart' | 'update' | 'replacement';
}

/**
 * The task a new one takes the place of, and why: the task of a down or draining node it
 * replaces, or else the newest task of its slot that is ending (a restart or an update step).
 */
export function successorOf(
  create: NewTask,
  ctx: { readonly service: Service; readonly slotTasks: readonly PlannedTask[]; readonly shutdown: ReadonlySet<string>; readonly nodes: ReadonlyMap<string, NodeInfo> },
): Successor | undefined {
  const byId = new Map(ctx.slotTasks.map((t) => [t.id, t]));
  const moved = create.replaces === undefined ? undefined : byId.get(create.replaces);
  if (moved) {
    const node = moved.nodeName === undefined ? undefined : ctx.nodes.get(moved.nodeName);
    const why = !node && moved.nodeName
      ? `its node ${moved.nodeName} was removed`
      : node?.state === 'down' ? `its node ${node.name} is down` : node?.availability === 'drain' ? `its node ${node.name} is draining` : 'moved to another node';
    return { taskId: moved.id, ...(moved.nodeName ? { node: moved.nodeName } : {}), why, cause: 'moved' };
  }
  const ending = ctx.slotTasks.filter((t) => ctx.shutdown.has(t.id) || (isTerminal(t.status.state) && t.desiredState === 'running'));
  const old = newest(ending);
  if (!old) return undefined;
  const state = old.status.state;
  const node = old.nodeName ? { node: old.nodeName } : {};
  if (isTerminal(state)) {
    return { taskId: old.id, ...node, why: `restart after it ${state === 'complete' ? 'completed' : state}${old.status.message ? ` (${old.status.message})` : ''}`, cause: 'restart' };
  }
  if (!isTaskCurrent(old, ctx.service)) return { taskId: old.id, ...node, why: `update to revision ${ctx.service.meta.revision}`, cause: 'update' };
  return { taskId: old.id, ...node, why: 'replacement', cause: 'replacement' };
}

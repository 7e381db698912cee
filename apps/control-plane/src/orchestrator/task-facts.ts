import { isTerminal, type Task, type TaskState } from '@berth/core';

/** What the planners ask of a task, in one place (plan.ts, rollout.ts). */

/** Wanted running and not finished: on its way or live. */
export function isActive(t: Task): boolean {
  return t.desiredState === 'running' && !isTerminal(t.status.state);
}

/** Still waiting for the scheduler: no agent has it, so there is nothing to stop, only to forget. */
export function neverAssigned(t: Task): boolean {
  return !t.nodeName && (t.status.state === 'new' || t.status.state === 'pending');
}

/** Waiting for a node that none fits: the scheduler wrote why in `status.message`. */
export function unschedulable(t: Task): boolean {
  return neverAssigned(t) && t.status.state === 'pending' && t.status.message !== undefined;
}

/** The most recently created task (ids break ties). */
export function newest<T extends Task>(tasks: readonly T[]): T | undefined {
  return [...tasks].sort((a, b) => b.createdAt.localeCompare(a.createdAt) || b.id.localeCompare(a.id))[0];
}

/**
 * A live task moving forward on its node — assigned → preparing → starting → running, nothing
 * else changed. What a plan decides from such a step is whether the task is up, which matters
 * only to a rollout or a move waiting for it (a task that `replaces` another); a pass for each
 * one while ten thousand tasks start would plan the same thing ten thousand times.
 */
export function isRoutineProgress(before: Task | undefined, after: Task | undefined): boolean {
  if (!before || !after || after.replaces !== undefined) return false;
  if (before.desiredState !== after.desiredState || before.nodeName !== after.nodeName || before.status.health !== after.status.health) return false;
  return isLiveOnNode(before.status.state) && isLiveOnNode(after.status.state);
}

function isLiveOnNode(state: TaskState): boolean {
  return state === 'assigned' || state === 'preparing' || state === 'starting' || state === 'running';
}

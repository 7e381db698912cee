import { isTaskCurrent, type RestartPolicy, type Service, type Task, type TaskTemplate } from '@berth/core';

type PlannedTask = Task & { readonly template?: TaskTemplate };

export type RestartDecision = { kind: 'now' } | { kind: 'later'; afterMs: number } | { kind: 'never' };

/**
 * Whether a slot whose newest task has finished gets a new task, and when. Backoff doubles with
 * each end of a task of the current template in the slot (delay, 2·delay, … ≤ maxDelay).
 * A task of an outdated template that ended, or one the orchestrator stopped itself, is replaced
 * at once: that is an update or a scale, not a crash.
 */
export function restartDecision(service: Service, slotTasks: readonly PlannedTask[], latest: PlannedTask, now: number): RestartDecision {
  const policy: RestartPolicy = service.spec.restartPolicy;
  if (!isTaskCurrent(latest, service)) return { kind: 'now' };
  // We stopped it ourselves (scale down, drain, update): replacing it is not a crash restart.
  if (latest.desiredState === 'shutdown' && !isEnded(latest)) return { kind: 'now' };
  // Its node stopped it while it was still wanted (fencing, cut off from the control plane): not
  // the task's doing, so it comes back whatever the restart policy says, as after a node loss.
  if (latest.desiredState === 'running' && latest.status.state === 'shutdown') return { kind: 'now' };
  if (!wantsRestart(policy, latest)) return { kind: 'never' };
  // A task orphaned with its node did not crash: node losses do not count as attempts.
  const attempts = slotTasks.filter((t) => isTaskCurrent(t, service) && isEnded(t) && t.status.state !== 'orphaned').length;
  if (policy.maxAttempts > 0 && attempts > policy.maxAttempts) return { kind: 'never' };
  const delay = Math.min(policy.delayMs * 2 ** Math.max(0, attempts - 1), policy.maxDelayMs);
  const endedAt = Date.parse(latest.status.updatedAt);
  const due = (Number.isNaN(endedAt) ? now : endedAt) + delay;
  return due <= now ? { kind: 'now' } : { kind: 'later', afterMs: due - now };
}

function wantsRestart(policy: RestartPolicy, task: Task): boolean {
  switch (policy.condition) {
    case 'none':
      return false;
    case 'any':
      return true;
    case 'on-failure':
      return task.status.state !== 'complete';
  }
}

function isEnded(t: Task): boolean {
  return ['complete', 'failed', 'rejected', 'orphaned'].includes(t.status.state);
}

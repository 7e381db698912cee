import type { ServiceView, TaskView } from '@berth/api';
import { isTerminal } from '@berth/core';
import { assessRevision, learnRollout, type Assessment, type RolloutTarget, type WaitResult } from './rollout-record';

export type { Assessment, RolloutTarget, WaitResult } from './rollout-record';

/**
 * What `--wait` waits for in one service, fixed right after the write. Task views carry no spec
 * generation, so "a task of the current spec" is told apart by id: every task id seen before the
 * write is old, every other one was created after it.
 */
export interface WaitTarget {
  readonly service: string;
  /** Every task id of the service seen before the write. */
  readonly before: ReadonlySet<string>;
  /** Live task ids of the old spec that the new spec replaces; empty when the write changed none. */
  readonly replaced: ReadonlySet<string>;
  /**
   * Set when the write gave an existing service a new revision: the wait then follows the leader's
   * rollout of it (its failure action decides about failed tasks). Absent for a new service or a
   * pure scale, where a failed new task fails the wait.
   */
  readonly rollout?: RolloutTarget;
}

/** How the wait for one service ended, with the service as last seen. */
export interface WaitOutcome {
  readonly target: WaitTarget;
  readonly service: ServiceView;
  readonly result: WaitResult;
  /** Why it stopped (paused, rolled back), for the exit-3 message; absent when converged. */
  readonly message?: string;
}

/**
 * The target for one written service. Any spec change other than `replicas` replaces every live
 * task (Swarm's rule, and the orchestrator's rolling update); a new service or a pure scale does
 * not. A service whose revision the write changed is followed through its rollout; the revision
 * it had before is the one a rollback returns to, until the rollout record says otherwise.
 */
export function waitTarget(service: string, old: ServiceView | undefined, oldTasks: readonly TaskView[], written: ServiceView): WaitTarget {
  const before = new Set(oldTasks.map((t) => t.metadata.name));
  const respecced = old !== undefined && specWithoutReplicas(old) !== specWithoutReplicas(written);
  const replaced = respecced ? new Set(oldTasks.filter(isLive).map((t) => t.metadata.name)) : new Set<string>();
  const from = old?.metadata.revision;
  const to = written.metadata.revision;
  const revised = typeof from === 'number' && typeof to === 'number' && to !== from;
  return { service, before, replaced, ...(revised ? { rollout: { revision: to, previous: from } } : {}) };
}

/**
 * The target of `rollout status` (and of `--wait` after undo or restart): the rollout of the
 * service's revision in `current`, whatever it replaces. `previous` is the revision a rollback
 * would return to, when known.
 */
export function revisionTarget(current: ServiceView, previous?: number): WaitTarget {
  const revision = current.metadata.revision;
  return { service: current.metadata.name, before: new Set(), replaced: new Set(), rollout: { revision, ...(previous === undefined ? {} : { previous }) } };
}

/** Pure: the target after one more look at its service (see learnRollout). */
export function learnTarget(target: WaitTarget, service: ServiceView): WaitTarget {
  if (!target.rollout) return target;
  const rollout = learnRollout(target.rollout, service);
  return rollout === target.rollout ? target : { ...target, rollout };
}

function specWithoutReplicas(s: ServiceView): string {
  return JSON.stringify({ ...s.spec, replicas: undefined });
}

function isLive(t: TaskView): boolean {
  return !isTerminal(t.status.state);
}

/**
 * Where one service stands: done when as many tasks run as desired, all of the current spec, and
 * nothing is left to start or stop; failed as soon as a task created after the write ends failed
 * or rejected while it was meant to run. A followed rollout is done once the leader completed it
 * and the same holds; it stops when it paused or was rolled back (see assessRevision).
 */
export function assessService(target: WaitTarget, service: ServiceView, tasks: readonly TaskView[]): Assessment {
  if (target.rollout) return assessRevision(target.service, target.rollout, service, missingParts(target, service, tasks));
  const { desired, running } = service.status;
  const line = `${target.service}: ${running}/${desired} running`;
  const failed = tasks.find(
    (t) => !target.before.has(t.metadata.name) && t.spec.desiredState === 'running' && (t.status.state === 'failed' || t.status.state === 'rejected'),
  );
  if (failed) return { kind: 'failed', line, message: taskOutcome(failed) };
  const missing = missingParts(target, service, tasks);
  return missing.length === 0 ? { kind: 'done', line } : { kind: 'waiting', line, missing: `${line} (${missing.join('; ')})` };
}

/**
 * What keeps a service from being done, one phrase each, ending with the scheduler's explanation
 * of each pending task ("web.3.k2f: pending: 3 nodes: insufficient memory"); empty when done.
 */
export function missingParts(target: WaitTarget, service: ServiceView, tasks: readonly TaskView[]): string[] {
  const { desired, running, updated } = service.status;
  const live = tasks.filter(isLive);
  const parts: string[] = [];
  // The leader rewrites status after a spec change; until then it still counts the old replicas.
  if (service.spec.replicas !== undefined && desired !== service.spec.replicas) parts.push(`status not yet updated for ${service.spec.replicas} replicas`);
  if (running < desired) parts.push(`${desired - running} more to run`);
  if (updated < running) parts.push(`${running - updated} of ${running} running on an older spec`);
  const old = live.filter((t) => target.replaced.has(t.metadata.name)).length;
  if (old > 0) parts.push(`${old} old ${plural(old, 'task')} still live`);
  const stopping = live.filter((t) => t.spec.desiredState === 'shutdown' && !target.replaced.has(t.metadata.name)).length;
  if (stopping > 0) parts.push(`${stopping} ${plural(stopping, 'task')} still stopping`);
  const starting = live.filter((t) => t.spec.desiredState === 'running' && t.status.state !== 'running');
  if (running >= desired && starting.length > 0) parts.push(`${starting.length} ${plural(starting.length, 'task')} not running yet`);
  // Running, but the service counts a task with a health check only once it is healthy.
  const unproven = live.filter((t) => t.spec.desiredState === 'running' && t.status.state === 'running' && t.status.health && t.status.health !== 'healthy');
  if (unproven.length > 0) parts.push(`${unproven.length} ${plural(unproven.length, 'task')} not healthy yet`);
  parts.push(...starting.filter((t) => t.status.state === 'pending' && t.status.message).map(taskOutcome));
  return parts;
}

/** `web.2.x8f3: failed: exec: "nope": executable file not found`; the exit code when there is no message. */
export function taskOutcome(t: TaskView): string {
  const { state, message, exitCode } = t.status;
  const why = message ?? (exitCode === undefined ? undefined : `exit code ${exitCode}`);
  return `${t.metadata.name}: ${state}${why ? `: ${why}` : ''}`;
}

/** The timeout error: what is still missing, one service per line. */
export function timeoutMessage(after: string, waiting: readonly string[]): string {
  return [`timed out after ${after} waiting for the services to converge; still missing:`, ...waiting.map((w) => `  ${w}`)].join('\n');
}

function plural(n: number, word: string): string {
  return n === 1 ? word : `${word}s`;
}

import type { ServiceSpec } from './service';

/**
 * A rollout is how a service gets from its tasks of earlier revisions to tasks of its current
 * one. The leader's orchestrator is its only writer (`status/rollouts/<name>`):
 * - `updating`: replacing tasks, `update.parallelism` at a time;
 * - `paused`: no further task is replaced — failures exceeded `update.maxFailureRatio` with
 *   `failureAction: pause`, a replacement fits no node, or the operator paused it;
 * - `rolling-back`: failures exceeded the ratio with `failureAction: rollback`; the service's spec
 *   became the previous revision's again (a new revision) and that one is rolled out;
 * - `rolled-back`: that rollback finished; `reason` says what failed;
 * - `completed`: every slot runs an updated task of the revision.
 */
export const ROLLOUT_STATES = ['updating', 'paused', 'rolling-back', 'rolled-back', 'completed'] as const;
export type RolloutState = (typeof ROLLOUT_STATES)[number];

export interface Rollout {
  /** The service revision being rolled out. */
  readonly revision: number;
  readonly state: RolloutState;
  /** The revision running before this rollout, which a rollback returns to; none for a new service. */
  readonly previousRevision?: number;
  /** Set when this rollout is an automatic rollback: the revision whose rollout failed. */
  readonly rollbackOf?: number;
  /** For a rollback: what failed. `reason` says it too, unless the rollback itself paused. */
  readonly rollbackReason?: string;
  /** Slots of the service, slots running an updated task of the revision, update failures. */
  readonly total: number;
  readonly updated: number;
  readonly failed: number;
  /** Why it is paused or was rolled back, naming the failed task and its message. */
  readonly reason?: string;
  readonly startedAt: string;
  readonly updatedAt: string;
  /** When it last paused: a `resume` after this time continues it. */
  readonly pausedAt?: string;
  readonly completedAt?: string;
}

/** Whether a rollout has ended: nothing of it is left to do. */
export function isRolloutDone(r: Pick<Rollout, 'state'>): boolean {
  return r.state === 'completed' || r.state === 'rolled-back';
}

/** One entry of a service's revision history (the last 10 are kept). */
export interface Revision {
  readonly revision: number;
  /** The service generation that introduced it. */
  readonly generation: number;
  readonly spec: ServiceSpec;
  readonly createdAt: string;
  /** `apply`, `restart`, `undo to revision 2`, `rollback to revision 2: web.2.x failed: …`. */
  readonly cause: string;
}

export const REVISION_HISTORY = 10;

import type { TaskTemplate } from './service';

/**
 * Task states only move forward (swarmkit's model): a restart is a new task in the same slot.
 */
export const TASK_STATES = [
  'new',
  'pending',
  'assigned',
  'preparing',
  'starting',
  'running',
  'complete',
  'failed',
  'shutdown',
  'rejected',
  'orphaned',
] as const;
export type TaskState = (typeof TASK_STATES)[number];

export const TERMINAL_STATES: ReadonlySet<TaskState> = new Set([
  'complete',
  'failed',
  'shutdown',
  'rejected',
  'orphaned',
]);

export function isTerminal(state: TaskState): boolean {
  return TERMINAL_STATES.has(state);
}

/** True when moving from `from` to `to` keeps states monotonic (terminal states are final). */
export function canTransition(from: TaskState, to: TaskState): boolean {
  if (isTerminal(from)) return false;
  return TASK_STATES.indexOf(to) >= TASK_STATES.indexOf(from);
}

export type DesiredTaskState = 'running' | 'shutdown';

/**
 * What the task's health check says (Docker's health states), reported by the agent while the
 * task runs; absent for a task without a health check. `starting` until the first passing
 * check, `healthy` after it, `unhealthy` after `retries` failures in a row — the agent then
 * stops the task and records it `failed`, so an unhealthy task is never left running.
 */
export const TASK_HEALTH = ['starting', 'healthy', 'unhealthy'] as const;
export type TaskHealth = (typeof TASK_HEALTH)[number];

export interface TaskStatus {
  readonly state: TaskState;
  readonly node?: string;
  readonly pid?: number;
  readonly ip?: string;
  readonly exitCode?: number;
  readonly message?: string;
  readonly startedAt?: string;
  /**
   * When the task was first up — running, and healthy when it has a check — as its node's report
   * said; written by the store, kept once set. Rollouts time their monitor from it.
   */
  readonly upAt?: string;
  /** Only for tasks with a health check; may change while `state` stays `running`. */
  readonly health?: TaskHealth;
  readonly updatedAt: string;
}

export interface Task {
  /** Task id: `<service>.<slot>.<suffix>`, unique for all time. */
  readonly id: string;
  readonly service: string;
  readonly slot: number;
  /** The service generation this task was created from. */
  readonly specGeneration: number;
  readonly desiredState: DesiredTaskState;
  /** Written by the scheduler only. */
  readonly nodeName?: string;
  /**
   * Global services: the one node this task is for, set by the orchestrator at creation. The
   * scheduler places the task there, through every filter, or leaves it pending with the reason;
   * it never places it anywhere else.
   */
  readonly targetNode?: string;
  readonly status: TaskStatus;
  readonly createdAt: string;
  /**
   * The task this one was created to replace while that one still runs or may run: a task of a
   * down node (failover) or of a draining node. Its slot keeps one of the two (task-model.md).
   */
  readonly replaces?: string;
  /** etcd mod_revision, for optimistic updates. */
  readonly resourceVersion: string;
}

/**
 * Whether a task is up and serving, as service status and rolling updates count it (Swarm's
 * rule): running, and — when it has a health check — healthy. A task stored without its
 * template counts as having a check when it reports a health.
 */
export function isTaskUp(task: { readonly status: TaskStatus; readonly template?: TaskTemplate }): boolean {
  if (task.status.state !== 'running') return false;
  const checked = task.template?.healthCheck !== undefined || task.status.health !== undefined;
  return !checked || task.status.health === 'healthy';
}

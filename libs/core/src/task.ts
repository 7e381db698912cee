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

export interface TaskStatus {
  readonly state: TaskState;
  readonly node?: string;
  readonly pid?: number;
  readonly ip?: string;
  readonly exitCode?: number;
  readonly message?: string;
  readonly startedAt?: string;
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
  readonly status: TaskStatus;
  readonly createdAt: string;
  /** etcd mod_revision, for optimistic updates. */
  readonly resourceVersion: string;
}

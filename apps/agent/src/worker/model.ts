import type { DesiredTaskState, TaskHealth, TaskState, TaskTemplate } from '@berth/core';
import type { TaskHandle } from '@berth/runtime';

/** A task the control plane assigned to this node (proto types already mapped away). */
export interface Assignment {
  readonly taskId: string;
  readonly service: string;
  readonly slot: number;
  readonly specGeneration: number;
  readonly desiredState: DesiredTaskState;
  readonly spec: TaskTemplate;
  /** The service asked for fencing: stopped when the node is cut off from the control plane. */
  readonly fenced?: boolean;
}

/** What the agent reports about a task; states only move forward. */
export interface LocalStatus {
  readonly state: TaskState;
  readonly pid?: number;
  readonly ip?: string;
  readonly exitCode?: number;
  readonly message?: string;
  readonly startedAt?: string;
  /** Only for tasks with a health check: `starting` once running, then what the checks say. */
  readonly health?: TaskHealth;
  readonly updatedAt: string;
}

/** One task as the agent remembers it across restarts (the state file's content). */
export interface LocalTask {
  readonly assignment: Assignment;
  /** Set once the driver prepared the task. */
  readonly handle?: TaskHandle;
  readonly status: LocalStatus;
  /**
   * Saved once the control plane dropped the task and the agent began taking it off the node;
   * the state file itself goes only once that succeeded. A restarted agent destroys such a task
   * instead of re-adopting it. Absent (false) in state files from before this field existed.
   */
  readonly forgotten?: boolean;
}

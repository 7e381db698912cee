import { isTerminal } from '@berth/core';
import type { Assignment, LocalTask } from './model';

export interface WorkerPlan {
  /** Assigned, wanted running, and unknown locally: prepare and start. */
  readonly start: readonly Assignment[];
  /**
   * Assigned, already wanted shut down, and unknown locally (stopped before this node started
   * it): record and report it shut down, touching nothing in the runtime.
   */
  readonly skip: readonly Assignment[];
  /** Known locally and alive, but no longer wanted running: stop (then keep as history). */
  readonly stop: readonly string[];
  /** No longer assigned at all: destroy everything the runtime holds and forget the task. */
  readonly forget: readonly string[];
}

/**
 * Level-triggered: compares what the control plane assigned with what this node has, and says
 * what to change. Pure. A task is never started twice: a known task id (also one still being
 * forgotten) is never in `start`, and a finished task stays finished (a restart is a new task id
 * from the control plane).
 */
export function planWorker(assigned: ReadonlyMap<string, Assignment>, local: ReadonlyMap<string, LocalTask>): WorkerPlan {
  const start: Assignment[] = [];
  const skip: Assignment[] = [];
  const stop: string[] = [];
  const forget: string[] = [];
  for (const a of assigned.values()) {
    if (local.has(a.taskId)) continue;
    (a.desiredState === 'running' ? start : skip).push(a);
  }
  for (const [id, task] of local) {
    if (task.forgotten) continue; // already on its way out; its cleanup runs until it succeeds
    const a = assigned.get(id);
    if (!a) forget.push(id);
    else if (a.desiredState === 'shutdown' && !isTerminal(task.status.state)) stop.push(id);
  }
  return { start, skip, stop, forget };
}

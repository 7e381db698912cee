import {
  DesiredState,
  taskHealthToProto,
  taskSpecFromProto,
  taskStateToProto,
  type Assignment as WireAssignment,
  type TaskStatus as WireStatus,
} from '@berth/proto';
import type { Assignment, LocalTask } from '../worker/model';

/** Proto → agent model. Assignments without a spec cannot be run; they are dropped with a reason. */
export function assignmentFromWire(a: WireAssignment): Assignment | { invalid: string } {
  if (!a.spec) return { invalid: `assignment ${a.taskId} has no task spec` };
  return {
    taskId: a.taskId,
    service: a.service,
    slot: a.slot,
    specGeneration: a.specGeneration,
    desiredState: a.desiredState === DesiredState.DESIRED_STATE_RUNNING ? 'running' : 'shutdown',
    spec: taskSpecFromProto(a.spec),
    ...(a.fenced ? { fenced: true } : {}),
  };
}

export function statusToWire(task: LocalTask, seq: number): WireStatus {
  const s = task.status;
  return {
    taskId: task.assignment.taskId,
    state: taskStateToProto(s.state),
    seq,
    pid: s.pid,
    ip: s.ip,
    exitCode: s.exitCode,
    message: s.message ?? '',
    startedAtMs: s.startedAt ? Date.parse(s.startedAt) : undefined,
    updatedAtMs: Date.parse(s.updatedAt),
    health: taskHealthToProto(s.health),
  };
}

import { isTerminal, type TaskStatus } from '@berth/core';
import { DesiredState, runtimesFromProto, taskHealthFromProto, taskSpecToProto, taskStateFromProto, type Assignment, type Hello, type TaskStatus as WireStatus } from '@berth/proto';
import type { NodeRegistration, TaskRecord, TaskStatusReport } from '@berth/store';

/**
 * What a node is told to run: every task placed on it that is not finished, or that should be
 * running (a finished task still desired running stays listed until the orchestrator replaces
 * it, so the agent does not forget it early). Records without a stored template cannot be run.
 */
export function isAssignedTo(task: TaskRecord, node: string): boolean {
  return task.nodeName === node && task.template !== undefined && (!isTerminal(task.status.state) || task.desiredState === 'running');
}

export function toAssignment(task: TaskRecord): Assignment {
  return {
    taskId: task.id,
    service: task.service,
    slot: task.slot,
    desiredState: task.desiredState === 'running' ? DesiredState.DESIRED_STATE_RUNNING : DesiredState.DESIRED_STATE_SHUTDOWN,
    spec: taskSpecToProto(task.template!),
    specGeneration: task.specGeneration,
    fenced: task.fenced === true,
  };
}

/** The part of an assignment that, when it changes, the agent must hear about again. */
export function assignmentVersion(task: TaskRecord): string {
  return `${task.desiredState}/${task.specGeneration}`;
}

/** Agent reports → store reports; statuses in a state this control plane does not know are dropped. */
export function reportsFromWire(statuses: readonly WireStatus[]): TaskStatusReport[] {
  const out: TaskStatusReport[] = [];
  for (const s of statuses) {
    const state = taskStateFromProto(s.state);
    if (!state) continue;
    const health = taskHealthFromProto(s.health);
    const status: Omit<TaskStatus, 'node'> = {
      state,
      ...(s.pid !== undefined ? { pid: s.pid } : {}),
      ...(s.ip !== undefined ? { ip: s.ip } : {}),
      ...(s.exitCode !== undefined ? { exitCode: s.exitCode } : {}),
      ...(s.message ? { message: s.message } : {}),
      ...(s.startedAtMs !== undefined ? { startedAt: new Date(s.startedAtMs).toISOString() } : {}),
      ...(health ? { health } : {}),
      updatedAt: new Date(s.updatedAtMs || Date.now()).toISOString(),
    };
    out.push({ taskId: s.taskId, status });
  }
  return out;
}

export function registrationFromHello(h: Hello): NodeRegistration {
  const runtimes = runtimesFromProto(h.runtimes);
  return {
    name: h.nodeName,
    address: h.address,
    labels: { ...h.labels },
    capacity: { cpuMillis: h.capacity?.cpuMillis ?? 0, memoryBytes: h.capacity?.memoryBytes ?? 0 },
    drivers: [...h.drivers],
    ...(Object.keys(h.driverDetails).length > 0 ? { driverDetails: { ...h.driverDetails } } : {}),
    ...(runtimes ? { runtimes } : {}),
    ...(h.agentVersion ? { agentVersion: h.agentVersion } : {}),
    ...(h.metricsAddress ? { metricsAddress: advertisedMetricsAddress(h.metricsAddress, h.address) } : {}),
  };
}

/**
 * An agent whose metrics endpoint listens on every address (`0.0.0.0:9101`, `[::]:9101`) is
 * reached at the address it announces for its node; any other host is taken as it is.
 */
export function advertisedMetricsAddress(listening: string, nodeAddress: string): string {
  const m = /^(?:\[([^\]]*)\]|([^:]*)):(\d+)$/.exec(listening);
  if (!m) return listening;
  const host = m[1] ?? m[2] ?? '';
  if (host !== '' && host !== '0.0.0.0' && host !== '::') return listening;
  return nodeAddress.includes(':') ? `[${nodeAddress}]:${m[3]}` : `${nodeAddress}:${m[3]}`;
}

import { normaliseCapability } from '@berth/core';
import type { HealthCheck as CoreHealthCheck, ImagePullPolicy, Runtime, SecurityContext as CoreSecurityContext, TaskState as CoreTaskState, TaskHealth as CoreTaskHealth, TaskTemplate } from '@berth/core';
import { TaskHealth, TaskState, type HealthCheck, type SecurityContext, type TaskSpec } from './gen/berth/agent/v1/agent';

// Proto types stop here: the rest of berth speaks @berth/core.

const STATE_TO_PROTO: Readonly<Record<CoreTaskState, TaskState>> = {
  new: TaskState.TASK_STATE_NEW,
  pending: TaskState.TASK_STATE_PENDING,
  assigned: TaskState.TASK_STATE_ASSIGNED,
  preparing: TaskState.TASK_STATE_PREPARING,
  starting: TaskState.TASK_STATE_STARTING,
  running: TaskState.TASK_STATE_RUNNING,
  complete: TaskState.TASK_STATE_COMPLETE,
  failed: TaskState.TASK_STATE_FAILED,
  shutdown: TaskState.TASK_STATE_SHUTDOWN,
  rejected: TaskState.TASK_STATE_REJECTED,
  orphaned: TaskState.TASK_STATE_ORPHANED,
};

const STATE_FROM_PROTO = new Map<TaskState, CoreTaskState>(
  Object.entries(STATE_TO_PROTO).map(([core, proto]) => [proto, core as CoreTaskState]),
);

export function taskStateToProto(state: CoreTaskState): TaskState {
  return STATE_TO_PROTO[state];
}

/** undefined for UNSPECIFIED or a value from a newer agent this control plane does not know. */
export function taskStateFromProto(state: TaskState): CoreTaskState | undefined {
  return STATE_FROM_PROTO.get(state);
}

const HEALTH_TO_PROTO: Readonly<Record<CoreTaskHealth, TaskHealth>> = {
  starting: TaskHealth.TASK_HEALTH_STARTING,
  healthy: TaskHealth.TASK_HEALTH_HEALTHY,
  unhealthy: TaskHealth.TASK_HEALTH_UNHEALTHY,
};

const HEALTH_FROM_PROTO = new Map<TaskHealth, CoreTaskHealth>(
  Object.entries(HEALTH_TO_PROTO).map(([core, proto]) => [proto, core as CoreTaskHealth]),
);

/** UNSPECIFIED when the task has no health check. */
export function taskHealthToProto(health: CoreTaskHealth | undefined): TaskHealth {
  return health === undefined ? TaskHealth.TASK_HEALTH_UNSPECIFIED : HEALTH_TO_PROTO[health];
}

/** undefined for UNSPECIFIED (no health check) or a value from a newer agent. */
export function taskHealthFromProto(health: TaskHealth): CoreTaskHealth | undefined {
  return HEALTH_FROM_PROTO.get(health);
}

export function taskSpecToProto(t: TaskTemplate): TaskSpec {
  return {
    runtime: t.runtime,
    image: t.image ?? '',
    command: [...(t.command ?? [])],
    env: { ...t.env },
    resources: { cpuMillis: t.resources.cpuMillis, memoryBytes: t.resources.memoryBytes, pids: t.resources.pids },
    ports: t.ports.map((p) => ({ containerPort: p.containerPort, hostPort: p.hostPort, protocol: p.protocol })),
    volumes: t.volumes.map((v) => ({ name: v.name, mountPath: v.mountPath })),
    stopGracePeriodMs: t.stopGracePeriodMs,
    healthCheck: t.healthCheck && healthCheckToProto(t.healthCheck),
    vmVcpus: t.vm?.vcpus,
    vmKernel: t.vm?.kernel,
    vmDisk: t.vm?.disk,
    vmCmdline: t.vm?.cmdline,
    imageDigest: t.imageDigest,
    imagePull: t.imagePull,
    securityContext: t.securityContext && securityContextToProto(t.securityContext),
  };
}

function securityContextToProto(s: CoreSecurityContext): SecurityContext {
  return {
    addCapabilities: [...(s.addCapabilities ?? [])],
    readOnlyRootFilesystem: s.readOnlyRootFilesystem === true,
    runAsUser: s.runAsUser,
    runAsGroup: s.runAsGroup,
    userNamespace: s.userNamespace === true,
    privileged: s.privileged === true,
  };
}

/** A capability this agent does not know (a newer control plane's) is left out: the task runs with less, never with more. */
function securityContextFromProto(s: SecurityContext): CoreSecurityContext | undefined {
  const caps = s.addCapabilities.flatMap((c) => normaliseCapability(c) ?? []);
  const out: CoreSecurityContext = {
    ...(caps.length > 0 ? { addCapabilities: caps } : {}),
    ...(s.readOnlyRootFilesystem ? { readOnlyRootFilesystem: true as const } : {}),
    ...(s.runAsUser !== undefined ? { runAsUser: s.runAsUser } : {}),
    ...(s.runAsGroup !== undefined ? { runAsGroup: s.runAsGroup } : {}),
    ...(s.userNamespace ? { userNamespace: true as const } : {}),
    ...(s.privileged ? { privileged: true as const } : {}),
  };
  return Object.keys(out).length > 0 ? out : undefined;
}

function healthCheckToProto(h: CoreHealthCheck): HealthCheck {
  return {
    exec: [...(h.exec ?? [])],
    ...(h.tcp ? { tcp: { port: h.tcp.port } } : {}),
    ...(h.http ? { http: { port: h.http.port, path: h.http.path } } : {}),
    intervalMs: h.intervalMs,
    timeoutMs: h.timeoutMs,
    retries: h.retries,
    startPeriodMs: h.startPeriodMs,
  };
}

function healthCheckFromProto(h: HealthCheck): CoreHealthCheck {
  const timing = { intervalMs: h.intervalMs, timeoutMs: h.timeoutMs, retries: h.retries, startPeriodMs: h.startPeriodMs };
  if (h.tcp) return { tcp: { port: h.tcp.port }, ...timing };
  if (h.http) return { http: { port: h.http.port, path: h.http.path }, ...timing };
  return { exec: [...h.exec], ...timing };
}

const PULL_POLICIES: readonly string[] = ['ifNotPresent', 'always'] satisfies ImagePullPolicy[];

/** A policy this agent does not know (a newer control plane) reads as absent: pinned when a digest is given. */
function imagePullFromProto(value: string | undefined): ImagePullPolicy | undefined {
  return value !== undefined && PULL_POLICIES.includes(value) ? (value as ImagePullPolicy) : undefined;
}

export function taskSpecFromProto(s: TaskSpec): TaskTemplate {
  const imagePull = imagePullFromProto(s.imagePull);
  const security = s.securityContext && securityContextFromProto(s.securityContext);
  return {
    runtime: s.runtime === 'vm' ? 'vm' : 'container',
    // Empty only for a vm.disk VM.
    ...(s.image ? { image: s.image } : {}),
    ...(s.imageDigest ? { imageDigest: s.imageDigest } : {}),
    ...(imagePull ? { imagePull } : {}),
    ...(s.command.length > 0 ? { command: [...s.command] } : {}),
    env: { ...s.env },
    resources: {
      ...(s.resources?.cpuMillis !== undefined ? { cpuMillis: s.resources.cpuMillis } : {}),
      ...(s.resources?.memoryBytes !== undefined ? { memoryBytes: s.resources.memoryBytes } : {}),
      ...(s.resources?.pids !== undefined ? { pids: s.resources.pids } : {}),
    },
    ports: s.ports.map((p) => ({
      containerPort: p.containerPort,
      ...(p.hostPort !== undefined ? { hostPort: p.hostPort } : {}),
      protocol: p.protocol === 'udp' ? 'udp' : 'tcp',
    })),
    volumes: s.volumes.map((v) => ({ name: v.name, mountPath: v.mountPath })),
    stopGracePeriodMs: s.stopGracePeriodMs,
    ...(s.healthCheck ? { healthCheck: healthCheckFromProto(s.healthCheck) } : {}),
    ...(security ? { securityContext: security } : {}),
    ...(s.vmVcpus !== undefined ? { vm: { vcpus: s.vmVcpus, ...(s.vmKernel ? { kernel: s.vmKernel } : {}), ...(s.vmDisk ? { disk: s.vmDisk } : {}), ...(s.vmCmdline ? { cmdline: s.vmCmdline } : {}) } } : {}),
  };
}

const RUNTIMES: readonly string[] = ['container', 'vm'] satisfies Runtime[];

/**
 * The runtimes a Hello says the node serves, deduplicated; values this control plane does not
 * know (a newer agent's) are left out. Undefined when the agent sent none (one older than the
 * field): the node's record then has no `runtimes` and the scheduler derives them from its drivers.
 */
export function runtimesFromProto(values: readonly string[]): Runtime[] | undefined {
  if (values.length === 0) return undefined;
  return [...new Set(values.filter((v): v is Runtime => RUNTIMES.includes(v)))];
}

/** Log credit (LogRequest.credit, LogCredit) is counted in text bytes plus this much per line. */
const LOG_LINE_OVERHEAD = 32;

/** What one log line costs of a request's credit, counted alike by the agent and the control plane. */
export function logLineCost(line: { readonly text: string }): number {
  return Buffer.byteLength(line.text) + LOG_LINE_OVERHEAD;
}

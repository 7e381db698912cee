import { formatCpu, formatDuration, formatMemory, isTerminal } from '@berth/core';
import type {
  DesiredTaskState,
  FailureAction,
  HealthProbe,
  ImagePullPolicy,
  NodeAvailability,
  NodeInfo,
  NodeState,
  PlacementStrategy,
  Protocol,
  RestartCondition,
  Revision,
  Rollout,
  RolloutState,
  Runtime,
  SecurityContext,
  Service,
  ServiceMode,
  ServiceSpec,
  ServiceStatus,
  Task,
  TaskHealth,
  TaskState,
  UpdateConfig,
  UpdateOrder,
} from '@berth/core';

/**
 * The JSON shapes of docs/api.md: what the API answers and `berth get -o json` prints. Specs are
 * in manifest form — canonical text quantities (cpu "500m" or "2", memory "64Mi", durations "5s")
 * and every default filled in — so a view's spec is itself a valid manifest spec.
 */
export interface ServiceSpecView {
  readonly mode: ServiceMode;
  /** Absent for mode global (it runs one task per eligible node). */
  readonly replicas?: number;
  readonly template: TemplateView;
  readonly restartPolicy: { readonly condition: RestartCondition; readonly delay: string; readonly maxDelay: string; readonly maxAttempts: number };
  readonly update: UpdateView;
  /** The same knobs for an automatic rollback (failureAction pause | continue). */
  readonly rollback: UpdateView;
  /** `spreadBy` only when set. */
  readonly placement: { readonly constraints: readonly string[]; readonly maxPerNode: number; readonly strategy: PlacementStrategy; readonly spreadBy?: string };
  readonly fencing: boolean;
}

export interface UpdateView {
  readonly parallelism: number;
  readonly delay: string;
  readonly monitor: string;
  readonly maxFailureRatio: number;
  readonly failureAction: FailureAction;
  readonly order: UpdateOrder;
}

/** `status.rollout` of a service: the leader's rollout record (see Rollout in @berth/core). */
export interface RolloutView {
  readonly revision: number;
  readonly state: RolloutState;
  readonly previousRevision?: number;
  /** Only for an automatic rollback: the revision whose rollout failed. */
  readonly rollbackOf?: number;
  readonly total: number;
  readonly updated: number;
  readonly failed: number;
  readonly reason?: string;
  readonly startedAt: string;
  readonly updatedAt: string;
  readonly completedAt?: string;
}

/** `GET /api/v1/services/:name/revisions` items: the revision history, oldest first. */
export interface RevisionView {
  readonly revision: number;
  readonly generation: number;
  readonly createdAt: string;
  readonly cause: string;
  /** The revision's template image, for `rollout history`; absent for a disk VM (`spec.template.vm.disk`). */
  readonly image?: string;
  /** The digest the revision's image was pinned to; absent when not pinned. */
  readonly imageDigest?: string;
  /** Whether this is the service's current revision. */
  readonly current: boolean;
  readonly spec: ServiceSpecView;
}

/**
 * The task template in manifest form; `imagePull`, `command`, `healthCheck` and `vm` appear only
 * when set. The pinned digest is not here (a manifest may not set it): it is `status.imageDigest`.
 */
export interface TemplateView {
  readonly runtime: Runtime;
  /** Absent exactly when `vm.disk` is set. */
  readonly image?: string;
  readonly imagePull?: ImagePullPolicy;
  readonly command?: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  readonly resources: { readonly cpu?: string; readonly memory?: string; readonly pids?: number };
  readonly ports: readonly { readonly containerPort: number; readonly hostPort?: number; readonly protocol: Protocol }[];
  /** Exactly one of `exec`, `tcp` and `http`, as in the manifest (http with its path filled in). */
  readonly healthCheck?: {
    readonly exec?: readonly string[];
    readonly tcp?: { readonly port: number };
    readonly http?: { readonly port: number; readonly path: string };
    readonly interval: string;
    readonly timeout: string;
    readonly retries: number;
    readonly startPeriod: string;
  };
  readonly volumes: readonly { readonly name: string; readonly mountPath: string }[];
  readonly vm?: { readonly vcpus: number; readonly kernel?: string; readonly disk?: string; readonly cmdline?: string };
  readonly stopGracePeriod: string;
  /** Only when the template changes a hardened default (see docs/security.md); `describe` shows the defaults. */
  readonly securityContext?: {
    readonly capabilities?: { readonly add: readonly string[] };
    readonly readOnlyRootFilesystem?: boolean;
    readonly runAsUser?: number;
    readonly runAsGroup?: number;
    readonly userNamespace?: boolean;
    readonly privileged?: boolean;
  };
}

/** `GET /api/v1/services/:name`: metadata, the spec with defaults filled in, observed status. */
export interface ServiceView {
  readonly metadata: {
    readonly name: string;
    readonly resourceVersion: string;
    readonly generation: number;
    /** Bumps on every spec change but a scale (and on `rollout restart`): see `rollout history`. */
    readonly revision: number;
    readonly labels: Readonly<Record<string, string>>;
    readonly createdAt: string;
    readonly updatedAt: string;
  };
  readonly spec: ServiceSpecView;
  readonly status: {
    readonly desired: number;
    readonly running: number;
    readonly updated: number;
    /** Absent until the leader has looked at the service. */
    readonly rollout?: RolloutView;
    /**
     * The manifest digest `spec.template.image` was pinned to at apply (or `rollout restart`):
     * what every task of the current revision runs. Absent when not pinned.
     */
    readonly imageDigest?: string;
  };
}

/** `GET /api/v1/tasks/:id`: `metadata.name` is the task id; optional fields are left out when unknown. */
export interface TaskView {
  readonly metadata: { readonly name: string; readonly service: string; readonly slot: number; readonly createdAt: string };
  /**
   * `replaces`: the task of a down or draining node this one was created to take over from.
   * `targetNode`: a global service's task, the one node it is for (placed there or nowhere).
   */
  readonly spec: { readonly desiredState: DesiredTaskState; readonly node?: string; readonly targetNode?: string; readonly replaces?: string };
  readonly status: {
    readonly state: TaskState;
    readonly node?: string;
    readonly pid?: number;
    readonly ip?: string;
    readonly exitCode?: number;
    readonly message?: string;
    readonly startedAt?: string;
    /** Only for tasks with a health check: starting | healthy | unhealthy. */
    readonly health?: TaskHealth;
  };
}

/**
 * `GET /api/v1/plan?without=n1,n2`: what losing those nodes would do to the tasks on them, as
 * the scheduler would decide it now. Nothing is written.
 */
export interface PlanView {
  readonly without: readonly string[];
  /** True when every task that would have to move finds a node. */
  readonly fits: boolean;
  /** The live tasks of the lost nodes, by service and slot. */
  readonly tasks: readonly TaskMoveView[];
}

/**
 * One task of a lost node: `moves` to `to`; `unschedulable` — no node would take it (`reason`,
 * the scheduler's explanation); `stops` — a global task ends with its node.
 */
export interface TaskMoveView {
  readonly task: string;
  readonly service: string;
  readonly slot: number;
  readonly from: string;
  readonly outcome: 'moves' | 'unschedulable' | 'stops';
  readonly to?: string;
  readonly reason?: string;
}

/** `GET /api/v1/nodes/:name`. */
export interface NodeView {
  readonly metadata: { readonly name: string; readonly labels: Readonly<Record<string, string>> };
  readonly spec: { readonly availability: NodeAvailability };
  readonly status: {
    readonly state: NodeState;
    readonly address: string;
    /** Canonical text quantities, as in specs: cpu "4" or "1500m", memory "8Gi". */
    readonly capacity: { readonly cpu: string; readonly memory: string };
    readonly drivers: readonly string[];
    /** What a driver reports about itself, by driver name: qemu's acceleration ("kvm", "tcg", "probing"). */
    readonly driverDetails?: Readonly<Record<string, string>>;
    /** The node's agent version, and where it serves Prometheus metrics (absent: none). */
    readonly agentVersion?: string;
    readonly metricsAddress?: string;
    /** Only while `state` is down: when the leader declared it down. */
    readonly downSince?: string;
    /** What the node's live tasks reserve (their resources), and how many they are. */
    readonly allocated: { readonly cpu: string; readonly memory: string };
    readonly tasks: number;
  };
}

/** What a node's live tasks take of it: reserved resources and their count. */
export interface NodeUsage {
  readonly cpuMillis: number;
  readonly memoryBytes: number;
  readonly tasks: number;
}

const NO_USAGE: NodeUsage = { cpuMillis: 0, memoryBytes: 0, tasks: 0 };

/**
 * One manifest document as JSON (the API's `{ items: [ServiceManifest…] }` body). Its spec has the
 * shape of ServiceSpecView; on input, every field that has a default may be left out.
 */
export interface ServiceManifest {
  readonly apiVersion: 'berth/v1';
  readonly kind: 'Service';
  readonly metadata: { readonly name: string; readonly labels?: Readonly<Record<string, string>>; readonly resourceVersion?: string };
  readonly spec: ServiceSpecView;
}

/** A service with its observed status; before the leader reported one, nothing runs yet. */
export function toServiceView(service: Service, status?: ServiceStatus, rollout?: Rollout): ServiceView {
  const { meta, spec } = service;
  const counts = status
    ? { desired: status.desired, running: status.running, updated: status.updated }
    : { desired: spec.mode === 'replicated' ? spec.replicas : 0, running: 0, updated: 0 };
  return {
    metadata: {
      name: meta.name,
      resourceVersion: meta.resourceVersion,
      generation: meta.generation,
      revision: meta.revision,
      labels: sorted(meta.labels),
      createdAt: meta.createdAt,
      updatedAt: meta.updatedAt,
    },
    spec: toSpecView(spec),
    status: { ...counts, ...(rollout ? { rollout: toRolloutView(rollout) } : {}), ...defined({ imageDigest: spec.template.imageDigest }) },
  };
}

export function toRolloutView(r: Rollout): RolloutView {
  return {
    revision: r.revision,
    state: r.state,
    ...(r.previousRevision === undefined ? {} : { previousRevision: r.previousRevision }),
    ...(r.rollbackOf === undefined ? {} : { rollbackOf: r.rollbackOf }),
    total: r.total,
    updated: r.updated,
    failed: r.failed,
    ...(r.reason === undefined ? {} : { reason: r.reason }),
    startedAt: r.startedAt,
    updatedAt: r.updatedAt,
    ...(r.completedAt === undefined ? {} : { completedAt: r.completedAt }),
  };
}

export function toRevisionView(r: Revision, currentRevision: number): RevisionView {
  return {
    revision: r.revision,
    generation: r.generation,
    createdAt: r.createdAt,
    cause: r.cause,
    ...defined({ image: r.spec.template.image, imageDigest: r.spec.template.imageDigest }),
    current: r.revision === currentRevision,
    spec: toSpecView(r.spec),
  };
}

export function toSpecView(spec: ServiceSpec): ServiceSpecView {
  const { restartPolicy: r, update: u, placement: p } = spec;
  return {
    mode: spec.mode,
    ...(spec.mode === 'global' ? {} : { replicas: spec.replicas }),
    template: toTemplateView(spec.template),
    restartPolicy: { condition: r.condition, delay: formatDuration(r.delayMs), maxDelay: formatDuration(r.maxDelayMs), maxAttempts: r.maxAttempts },
    update: toUpdateView(u),
    rollback: toUpdateView(spec.rollback),
    placement: { constraints: [...p.constraints], maxPerNode: p.maxPerNode, strategy: p.strategy, ...defined({ spreadBy: p.spreadBy }) },
    fencing: spec.fencing,
  };
}

function toUpdateView(u: UpdateConfig): UpdateView {
  return {
    parallelism: u.parallelism,
    delay: formatDuration(u.delayMs),
    monitor: formatDuration(u.monitorMs),
    maxFailureRatio: u.maxFailureRatio,
    failureAction: u.failureAction,
    order: u.order,
  };
}

function probeView(h: HealthProbe): Pick<NonNullable<TemplateView['healthCheck']>, 'exec' | 'tcp' | 'http'> {
  if (h.tcp) return { tcp: { port: h.tcp.port } };
  if (h.http) return { http: { port: h.http.port, path: h.http.path } };
  return { exec: [...h.exec] };
}

function toTemplateView(t: ServiceSpec['template']): TemplateView {
  const { cpuMillis, memoryBytes, pids } = t.resources;
  const h = t.healthCheck;
  return {
    runtime: t.runtime,
    ...defined({ image: t.image }),
    ...(t.imagePull ? { imagePull: t.imagePull } : {}),
    ...(t.command ? { command: [...t.command] } : {}),
    env: sorted(t.env),
    resources: {
      ...(cpuMillis === undefined ? {} : { cpu: formatCpu(cpuMillis) }),
      ...(memoryBytes === undefined ? {} : { memory: formatMemory(memoryBytes) }),
      ...(pids === undefined ? {} : { pids }),
    },
    ports: t.ports.map((p) => ({ containerPort: p.containerPort, ...(p.hostPort === undefined ? {} : { hostPort: p.hostPort }), protocol: p.protocol })),
    ...(h
      ? {
          healthCheck: {
            ...probeView(h),
            interval: formatDuration(h.intervalMs),
            timeout: formatDuration(h.timeoutMs),
            retries: h.retries,
            startPeriod: formatDuration(h.startPeriodMs),
          },
        }
      : {}),
    volumes: t.volumes.map((v) => ({ name: v.name, mountPath: v.mountPath })),
    ...(t.vm ? { vm: { vcpus: t.vm.vcpus, ...defined({ kernel: t.vm.kernel, disk: t.vm.disk, cmdline: t.vm.cmdline }) } } : {}),
    stopGracePeriod: formatDuration(t.stopGracePeriodMs),
    ...(t.securityContext ? { securityContext: securityContextView(t.securityContext) } : {}),
  };
}

function securityContextView(s: SecurityContext): NonNullable<TemplateView['securityContext']> {
  return {
    ...(s.addCapabilities ? { capabilities: { add: [...s.addCapabilities] } } : {}),
    ...defined({ readOnlyRootFilesystem: s.readOnlyRootFilesystem, runAsUser: s.runAsUser, runAsGroup: s.runAsGroup, userNamespace: s.userNamespace, privileged: s.privileged }),
  };
}

/**
 * A task as the API shows it. `node` is the task's node as it is now, when known: a task that is
 * not finished on a down node keeps its last reported state, and its message says the node is
 * down (the stored record is unchanged; it is not counted as running).
 */
export function toTaskView(task: Task, node?: Pick<NodeInfo, 'state' | 'downSince' | 'name'>): TaskView {
  const s = task.status;
  const lost = node?.state === 'down' && !isTerminal(s.state) ? `node ${node.name} down${node.downSince ? ` since ${node.downSince}` : ''}` : undefined;
  const message = lost && s.message ? `${lost}; ${s.message}` : (lost ?? s.message);
  return {
    metadata: { name: task.id, service: task.service, slot: task.slot, createdAt: task.createdAt },
    spec: { desiredState: task.desiredState, ...defined({ node: task.nodeName, targetNode: task.targetNode, replaces: task.replaces }) },
    status: {
      state: s.state,
      ...defined({ node: s.node, pid: s.pid, ip: s.ip, exitCode: s.exitCode, message, startedAt: s.startedAt, health: s.health }),
    },
  };
}

export function toNodeView(node: NodeInfo, usage: NodeUsage = NO_USAGE): NodeView {
  return {
    metadata: { name: node.name, labels: sorted(node.labels) },
    spec: { availability: node.availability },
    status: {
      state: node.state,
      address: node.address,
      capacity: { cpu: formatCpu(node.capacity.cpuMillis), memory: formatMemory(node.capacity.memoryBytes) },
      drivers: [...node.drivers],
      ...(node.driverDetails ? { driverDetails: sorted(node.driverDetails) } : {}),
      ...defined({ agentVersion: node.agentVersion, metricsAddress: node.metricsAddress, downSince: node.state === 'down' ? node.downSince : undefined }),
      allocated: { cpu: formatCpu(usage.cpuMillis), memory: formatMemory(usage.memoryBytes) },
      tasks: usage.tasks,
    },
  };
}

/** Keys in a stable order, so JSON output and diffs do not depend on insertion order. */
function sorted(map: Readonly<Record<string, string>>): Record<string, string> {
  return Object.fromEntries(Object.entries(map).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

function defined<T extends Record<string, unknown>>(fields: T): Partial<T> {
  return Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/**
 * `GET /api/v1/top/nodes|tasks`: usage from the agents' metrics, scraped twice by the control
 * plane `sampledOverSeconds` apart. A node whose agent could not be read (either time) is in
 * `errors`, not in `items` (nor are its tasks); nodes that are not ready or export no metrics are
 * in neither.
 */
export interface TopView<T> {
  readonly items: readonly T[];
  readonly sampledOverSeconds: number;
  readonly errors: readonly TopErrorView[];
}

export interface TopErrorView {
  readonly node: string;
  readonly message: string;
}

/** One node: its tasks' usage summed, and its agent's own figures of capacity and reservations. */
export interface NodeTopView {
  readonly node: string;
  /** Percent of one core, summed over its tasks that have a figure (400 = four cores busy). */
  readonly cpuPercent: number;
  /** Its tasks' working sets, summed. */
  readonly memoryBytes: number;
  readonly capacity: { readonly cpuCores: number; readonly memoryBytes: number };
  /** What its tasks reserve (their resources), as the scheduler counts them. */
  readonly allocated: { readonly cpuCores: number; readonly memoryBytes: number };
  /** How many tasks its agent reported usage for. */
  readonly tasks: number;
}

/** One task, as its node's agent measures it (cgroup figures). */
export interface TaskTopView {
  readonly task: string;
  readonly service: string;
  readonly slot: number;
  readonly node: string;
  /** Percent of one core over the interval; null for a task the first sample did not have. */
  readonly cpuPercent: number | null;
  /** Working set: memory in use minus inactive file cache, what the OOM killer looks at. */
  readonly memoryBytes: number;
  /** Null when unlimited. */
  readonly memoryLimitBytes: number | null;
  /** The CPU quota in cores (0.5 = half a core); null when unlimited. */
  readonly cpuLimitCores: number | null;
}

import type { SecurityContext } from './security';

/**
 * The Service resource as the domain sees it: plain readonly data, defaults filled in,
 * quantities normalised (cpu in millicores, memory in bytes, durations in milliseconds).
 * The manifest's textual forms ("500m", "64Mi", "5s") exist only in libs/api.
 */
export type ServiceMode = 'replicated' | 'global';
export type Runtime = 'container' | 'vm';
export type RestartCondition = 'any' | 'on-failure' | 'none';
export type FailureAction = 'pause' | 'continue' | 'rollback';
export type UpdateOrder = 'stop-first' | 'start-first';
export type PlacementStrategy = 'spread' | 'binpack';
export type Protocol = 'tcp' | 'udp';

export interface Resources {
  /** CPU limit in millicores (1000 = one core); undefined = unlimited. */
  readonly cpuMillis?: number;
  /** Memory limit in bytes; undefined = unlimited. */
  readonly memoryBytes?: number;
  readonly pids?: number;
}

export interface PortMapping {
  readonly containerPort: number;
  readonly hostPort?: number;
  readonly protocol: Protocol;
}

/** A tcp check passes when a connection to the task's address on `port` opens within the timeout. */
export interface TcpProbe {
  readonly port: number;
}

/** An http check passes when `GET http://<task address>:<port><path>` answers 200–399 within the timeout. */
export interface HttpProbe {
  readonly port: number;
  /** Starts with "/"; may carry a query. */
  readonly path: string;
}

/**
 * What a health check runs: exactly one of `exec` (a command inside the task), `tcp` or `http`
 * (from the node against the task's address). `exec` stays a top-level field, as in records
 * stored before tcp and http existed, so those read unchanged.
 */
export type HealthProbe =
  | { readonly exec: readonly string[]; readonly tcp?: never; readonly http?: never }
  | { readonly tcp: TcpProbe; readonly exec?: never; readonly http?: never }
  | { readonly http: HttpProbe; readonly exec?: never; readonly tcp?: never };

export type HealthCheckKind = 'exec' | 'tcp' | 'http';

/** When and how often a check runs, whatever its kind. */
export interface HealthCheckTiming {
  readonly intervalMs: number;
  readonly timeoutMs: number;
  readonly retries: number;
  readonly startPeriodMs: number;
}

export type HealthCheck = HealthProbe & HealthCheckTiming;

export function healthCheckKind(probe: HealthProbe): HealthCheckKind {
  if (probe.tcp) return 'tcp';
  if (probe.http) return 'http';
  return 'exec';
}

export interface VolumeMount {
  readonly name: string;
  readonly mountPath: string;
}

/**
 * How agents get the image. Omitted (the default): pinned — the control plane resolves the
 * reference to a manifest digest at apply and every node runs exactly that digest.
 * `ifNotPresent`: not pinned; a node uses its cached copy of the reference, else pulls it.
 * `always`: not pinned; a node pulls the reference again at every task start.
 */
export type ImagePullPolicy = 'ifNotPresent' | 'always';

export interface TaskTemplate {
  readonly runtime: Runtime;
  /**
   * The reference as the manifest wrote it (`host/repo:tag`, `…@sha256:…`, `oci:/abs/layout:tag`).
   * Absent exactly when the task boots a disk image (`vm.disk`) instead.
   */
  readonly image?: string;
  /**
   * `sha256:<64 hex>`: the manifest `image` named when it was pinned (at apply, or at `rollout
   * restart`). Written by the control plane only, never taken from a manifest; absent = not
   * pinned (an `imagePull` policy, a reference the control plane could not resolve, or a record
   * stored before pinning existed). Part of the template, so a new digest is a rollout and a
   * revision restored by undo or rollback brings its digest back.
   */
  readonly imageDigest?: string;
  readonly imagePull?: ImagePullPolicy;
  readonly command?: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  readonly resources: Resources;
  readonly ports: readonly PortMapping[];
  readonly healthCheck?: HealthCheck;
  readonly volumes: readonly VolumeMount[];
  /**
   * runtime vm only: vCPUs, and the guest kernel's path on the node (absent: the node's newest
   * /boot/vmlinuz-*). `disk`: a whole-OS disk image on the node (qcow2 or raw) booted with
   * `kernel` (then always given) through a copy-on-write overlay per task; `cmdline` adds kernel arguments.
   */
  readonly vm?: { readonly vcpus: number; readonly kernel?: string; readonly disk?: string; readonly cmdline?: string };
  readonly stopGracePeriodMs: number;
  /** runtime container only: what differs from the hardened defaults (libs/core/src/security.ts); absent: nothing. */
  readonly securityContext?: SecurityContext;
}

/** What a template runs, for one-line displays: its image, or `vm.disk PATH` for a disk VM. Pure. */
export function templateSource(t: Pick<TaskTemplate, 'image' | 'vm'>): string {
  return t.image ?? `vm.disk ${t.vm?.disk ?? '?'}`;
}

export interface RestartPolicy {
  readonly condition: RestartCondition;
  readonly delayMs: number;
  readonly maxDelayMs: number;
  /** 0 = unlimited. */
  readonly maxAttempts: number;
}

/**
 * How a rollout replaces tasks (Swarm's knobs and defaults): `parallelism` slots at a time (0 =
 * all), `delayMs` after a replacement is updated before the next one starts, a replacement counts
 * as updated once it has been up (running, and healthy when checked) for `monitorMs`. A
 * replacement that ends, is rejected or turns unhealthy before that is an update failure; once
 * failures exceed `maxFailureRatio` of the slots, `failureAction` applies.
 */
export interface UpdateConfig {
  readonly parallelism: number;
  readonly delayMs: number;
  readonly monitorMs: number;
  /** 0..1; default 0: the first failure triggers `failureAction`. */
  readonly maxFailureRatio: number;
  readonly failureAction: FailureAction;
  readonly order: UpdateOrder;
}

export interface Placement {
  readonly constraints: readonly string[];
  /** 0 = unlimited. */
  readonly maxPerNode: number;
  readonly strategy: PlacementStrategy;
  /**
   * `node.labels.KEY`: spread the service's tasks across the label's values first (nodes without
   * the label form one group of their own), then across nodes by `strategy`. Absent: no grouping.
   */
  readonly spreadBy?: string;
}

export interface ServiceSpec {
  readonly mode: ServiceMode;
  /** Ignored for mode: global. */
  readonly replicas: number;
  readonly template: TaskTemplate;
  readonly restartPolicy: RestartPolicy;
  readonly update: UpdateConfig;
  /** The same knobs for an automatic rollback; its failureAction is `pause` or `continue`. */
  readonly rollback: UpdateConfig;
  readonly placement: Placement;
  /**
   * Never run two copies of a task, even across a partition: the agent stops the service's tasks
   * once it has lost the control plane for the node-down time, and a task of a down node is
   * replaced only after that plus its stop grace and a margin. Default false (availability first).
   */
  readonly fencing: boolean;
}

export interface ServiceMeta {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  /** etcd mod_revision of the spec key, as a decimal string (opaque to clients). */
  readonly resourceVersion: string;
  /** Bumps by one on every spec change; unchanged re-applies leave it alone. */
  readonly generation: number;
  /**
   * Bumps by one on every spec change other than `replicas`, and on `rollout restart`: the
   * rollouts and the revision history count these (a scale is no new revision).
   */
  readonly revision: number;
  /** Set by `rollout restart`: tasks created from an older generation are outdated. */
  readonly restartGeneration?: number;
  /** The operator's last `rollout pause` or `resume`; it concerns `revision` only. */
  readonly rolloutControl?: RolloutControl;
  readonly createdAt: string;
  readonly updatedAt: string;
}

export interface Service {
  readonly meta: ServiceMeta;
  readonly spec: ServiceSpec;
}

/** Observed status, kept under its own key by the leader. */
export interface ServiceStatus {
  readonly desired: number;
  readonly running: number;
  readonly updated: number;
  /** The generation this status was computed against. */
  readonly observedGeneration: number;
  readonly updatedAt: string;
}

/** What a caller asks to store: a name, labels and a spec (no server-owned metadata). */
export interface ServiceDraft {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly spec: ServiceSpec;
  /** When set, the write succeeds only if the stored object still has this resourceVersion. */
  readonly resourceVersion?: string;
}

export const MAX_SERVICE_NAME = 48;
export const MAX_REPLICAS = 10_000;

export interface RolloutControl {
  readonly revision: number;
  readonly action: 'pause' | 'resume';
  readonly at: string;
}

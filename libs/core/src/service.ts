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

export interface HealthCheck {
  readonly exec: readonly string[];
  readonly intervalMs: number;
  readonly timeoutMs: number;
  readonly retries: number;
  readonly startPeriodMs: number;
}

export interface VolumeMount {
  readonly name: string;
  readonly mountPath: string;
}

export interface TaskTemplate {
  readonly runtime: Runtime;
  readonly image: string;
  readonly command?: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  readonly resources: Resources;
  readonly ports: readonly PortMapping[];
  readonly healthCheck?: HealthCheck;
  readonly volumes: readonly VolumeMount[];
  readonly vm?: { readonly vcpus: number };
  readonly stopGracePeriodMs: number;
}

export interface RestartPolicy {
  readonly condition: RestartCondition;
  readonly delayMs: number;
  readonly maxDelayMs: number;
  /** 0 = unlimited. */
  readonly maxAttempts: number;
}

export interface UpdateConfig {
  readonly parallelism: number;
  readonly delayMs: number;
  readonly monitorMs: number;
  readonly failureAction: FailureAction;
  readonly order: UpdateOrder;
}

export interface Placement {
  readonly constraints: readonly string[];
  /** 0 = unlimited. */
  readonly maxPerNode: number;
  readonly strategy: PlacementStrategy;
}

export interface ServiceSpec {
  readonly mode: ServiceMode;
  /** Ignored for mode: global. */
  readonly replicas: number;
  readonly template: TaskTemplate;
  readonly restartPolicy: RestartPolicy;
  readonly update: UpdateConfig;
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

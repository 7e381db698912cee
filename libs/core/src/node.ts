import type { Runtime } from './service';

export type NodeAvailability = 'active' | 'pause' | 'drain';
export type NodeState = 'ready' | 'down' | 'unknown';

export interface NodeCapacity {
  readonly cpuMillis: number;
  readonly memoryBytes: number;
}

export interface NodeInfo {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly availability: NodeAvailability;
  readonly state: NodeState;
  readonly address: string;
  readonly capacity: NodeCapacity;
  /** Names of the runtime drivers its agent runs tasks with ("runc", "qemu", "hollow"). */
  readonly drivers: readonly string[];
  /** What a driver reports about itself, by driver name ("qemu" → "kvm" | "tcg" | "probing"). */
  readonly driverDetails?: Readonly<Record<string, string>>;
  /**
   * The task runtimes the node serves (each by one of `drivers`). Absent in records written
   * before agents reported it: the scheduler then derives them from `drivers`.
   */
  readonly runtimes?: readonly Runtime[];
  /** The version of the node's agent, as its Hello said. */
  readonly agentVersion?: string;
  /** `host:port` of the agent's Prometheus endpoint (`/metrics`); absent when it exports none. */
  readonly metricsAddress?: string;
  readonly resourceVersion: string;
  /** When the leader declared the node down (ISO time); set only while `state` is `down`. */
  readonly downSince?: string;
  /**
   * The store revision at which the node's current session began (its alive key was bound);
   * set only while the node is connected. The leader compares it with the start of its term.
   */
  readonly sessionRevision?: string;
}

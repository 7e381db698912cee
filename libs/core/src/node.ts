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
  readonly drivers: readonly string[];
  readonly resourceVersion: string;
}

import type { HostPort, PendingTask, PlacedTask, SchedNode } from './model';

/** A node with what is already placed on it. Mutated only by `place`, inside one schedule run. */
export interface NodeLoad {
  readonly node: SchedNode;
  cpuUsed: number;
  memoryUsed: number;
  tasks: number;
  readonly ports: Set<string>;
  readonly perService: Map<string, number>;
}

export const portKey = (p: HostPort): string => `${p.port}/${p.protocol}`;

export function loadNodes(nodes: readonly SchedNode[], placed: readonly PlacedTask[]): Map<string, NodeLoad> {
  const loads = new Map<string, NodeLoad>();
  for (const node of nodes) {
    loads.set(node.name, { node, cpuUsed: 0, memoryUsed: 0, tasks: 0, ports: new Set(), perService: new Map() });
  }
  for (const task of placed) {
    const load = loads.get(task.node);
    if (load) place(load, task);
  }
  return loads;
}

export function place(load: NodeLoad, task: Pick<PendingTask | PlacedTask, 'service' | 'cpuMillis' | 'memoryBytes' | 'hostPorts'>): void {
  load.cpuUsed += task.cpuMillis;
  load.memoryUsed += task.memoryBytes;
  load.tasks += 1;
  for (const p of task.hostPorts) load.ports.add(portKey(p));
  load.perService.set(task.service, (load.perService.get(task.service) ?? 0) + 1);
}

import { formatConstraint, formatCpu, formatMemory, type Constraint } from '@berth/core';
import { DRIVER_FOR_RUNTIME, type PendingTask, type SchedNode } from './model';
import { portKey, type NodeLoad } from './node-load';

export type FilterResult = { fit: true } | { fit: false; reason: string };

/**
 * One reason a node cannot take a task. Reasons are short and shared across nodes so the
 * pipeline can count them: "3 nodes: insufficient memory".
 */
export interface Filter {
  readonly name: string;
  relevant(task: PendingTask): boolean;
  check(task: PendingTask, load: NodeLoad): FilterResult;
}

const FIT: FilterResult = { fit: true };
const noFit = (reason: string): FilterResult => ({ fit: false, reason });

const ready: Filter = {
  name: 'ready',
  relevant: () => true,
  check: (_t, { node }) => (node.state === 'ready' ? FIT : noFit(`node ${node.state}`)),
};

const availability: Filter = {
  name: 'availability',
  relevant: () => true,
  check: (_t, { node }) => {
    if (node.availability === 'active') return FIT;
    return noFit(node.availability === 'drain' ? 'drained' : 'paused');
  },
};

const driver: Filter = {
  name: 'driver',
  relevant: () => true,
  check: (task, { node }) => {
    const wanted = DRIVER_FOR_RUNTIME[task.runtime];
    return node.drivers.includes(wanted) ? FIT : noFit(`no ${wanted} driver`);
  },
};

const resources: Filter = {
  name: 'resources',
  relevant: (task) => task.cpuMillis > 0 || task.memoryBytes > 0,
  check: (task, load) => {
    const { capacity } = load.node;
    if (load.memoryUsed + task.memoryBytes > capacity.memoryBytes) {
      return noFit(`insufficient memory (needs ${formatMemory(task.memoryBytes)})`);
    }
    if (load.cpuUsed + task.cpuMillis > capacity.cpuMillis) {
      return noFit(`insufficient cpu (needs ${formatCpu(task.cpuMillis)})`);
    }
    return FIT;
  },
};

export function matchesConstraint(node: SchedNode, c: Constraint): boolean {
  const actual = c.attribute.kind === 'name' ? node.name : node.labels[c.attribute.key];
  return c.op === '==' ? actual === c.value : actual !== c.value;
}

const constraints: Filter = {
  name: 'constraints',
  relevant: (task) => task.constraints.length > 0,
  check: (task, { node }) => {
    const failed = task.constraints.find((c) => !matchesConstraint(node, c));
    return failed ? noFit(`constraint "${formatConstraint(failed)}" not met`) : FIT;
  },
};

const hostPorts: Filter = {
  name: 'host-ports',
  relevant: (task) => task.hostPorts.length > 0,
  check: (task, load) => {
    const taken = task.hostPorts.find((p) => load.ports.has(portKey(p)));
    return taken ? noFit(`host port ${portKey(taken)} in use`) : FIT;
  },
};

const maxPerNode: Filter = {
  name: 'max-per-node',
  relevant: (task) => task.maxPerNode > 0,
  check: (task, load) =>
    (load.perService.get(task.service) ?? 0) < task.maxPerNode ? FIT : noFit(`max ${task.maxPerNode} per node reached`),
};

/** In order: the first filter a node fails is the reason reported for it. */
export const FILTERS: readonly Filter[] = [ready, availability, driver, constraints, resources, hostPorts, maxPerNode];

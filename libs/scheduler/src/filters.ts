import { formatConstraint, formatCpu, formatMemory, type Constraint } from '@berth/core';
import { DRIVER_FOR_RUNTIME, servesRuntime, type PendingTask, type SchedNode } from './model';
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
  check: (task, { node }) => (servesRuntime(node, task.runtime) ? FIT : noFit(`no ${DRIVER_FOR_RUNTIME[task.runtime]} driver`)),
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

/**
 * A node that just refused this slot's task (a host port held outside berth, say) would most
 * likely refuse the replacement too: place it elsewhere, or wait until the caller stops passing
 * the rejection.
 */
const rejected: Filter = {
  name: 'rejected',
  relevant: (task) => (task.rejectedBy?.size ?? 0) > 0,
  check: (task, { node }) => {
    const why = task.rejectedBy?.get(node.name);
    return why === undefined ? FIT : noFit(`rejected the slot's last task: ${why}`);
  },
};

/**
 * In order: the first filter a node fails is the reason reported for it. `rejected` comes last:
 * it stands in for a conflict berth cannot see itself (a port held outside berth), so it is
 * named only when nothing in the cluster's own view rules the node out.
 */
export const FILTERS: readonly Filter[] = [ready, availability, driver, constraints, resources, hostPorts, maxPerNode, rejected];

/**
 * The filters that judge a node by its own description and the task's spec alone, never by what
 * is placed on it: whether the node is a candidate at all. A global service wants one slot on
 * every node that passes them (`eligibleNodes`).
 */
export const NODE_FILTERS: readonly Filter[] = [ready, availability, driver, constraints];

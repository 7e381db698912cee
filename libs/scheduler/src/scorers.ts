import type { PendingTask } from './model';
import type { NodeLoad } from './node-load';

/**
 * Orders feasible nodes; the first is chosen. With `spreadBy`, the node whose label value has the
 * fewest tasks of the service comes first (`inGroup`, from groupLoad), whatever the strategy;
 * then the strategy decides within that value. Ties break on the node name so a schedule is
 * deterministic for the same input.
 */
export function compareNodes(task: PendingTask, a: NodeLoad, b: NodeLoad, inGroup?: (l: NodeLoad) => number): number {
  const byGroup = inGroup ? inGroup(a) - inGroup(b) : 0;
  if (byGroup !== 0) return byGroup;
  const byStrategy = task.strategy === 'binpack' ? binpack(a, b) : spread(task, a, b);
  return byStrategy !== 0 ? byStrategy : a.node.name.localeCompare(b.node.name);
}

/**
 * With `spreadBy`: how many tasks of the task's service run on the nodes that share a node's
 * value of the label — all nodes, feasible or not; nodes without the label are one group of
 * their own. Undefined without `spreadBy`.
 */
export function groupLoad(task: PendingTask, loads: readonly NodeLoad[]): ((l: NodeLoad) => number) | undefined {
  const key = task.spreadBy;
  if (key === undefined) return undefined;
  // Own keys only: a label named "constructor" is valid, and must not find Object's.
  const valueOf = (l: NodeLoad): string | undefined => (Object.hasOwn(l.node.labels, key) ? l.node.labels[key] : undefined);
  const perValue = new Map<string | undefined, number>();
  for (const l of loads) perValue.set(valueOf(l), (perValue.get(valueOf(l)) ?? 0) + (l.perService.get(task.service) ?? 0));
  return (l) => perValue.get(valueOf(l)) ?? 0;
}

/** Fewest tasks of this service first, then fewest tasks overall. */
function spread(task: PendingTask, a: NodeLoad, b: NodeLoad): number {
  const mine = (l: NodeLoad) => l.perService.get(task.service) ?? 0;
  return mine(a) - mine(b) || a.tasks - b.tasks;
}

/** Fullest node first (by the larger of its cpu and memory utilisation), then most tasks. */
function binpack(a: NodeLoad, b: NodeLoad): number {
  return utilisation(b) - utilisation(a) || b.tasks - a.tasks;
}

function utilisation(l: NodeLoad): number {
  const { cpuMillis, memoryBytes } = l.node.capacity;
  const cpu = cpuMillis > 0 ? l.cpuUsed / cpuMillis : 1;
  const memory = memoryBytes > 0 ? l.memoryUsed / memoryBytes : 1;
  return Math.max(cpu, memory);
}

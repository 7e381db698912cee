import type { PendingTask } from './model';
import type { NodeLoad } from './node-load';

/**
 * Orders feasible nodes; the first is chosen. Ties break on the node name so a schedule is
 * deterministic for the same input.
 */
export function compareNodes(task: PendingTask, a: NodeLoad, b: NodeLoad): number {
  const byStrategy = task.strategy === 'binpack' ? binpack(a, b) : spread(task, a, b);
  return byStrategy !== 0 ? byStrategy : a.node.name.localeCompare(b.node.name);
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

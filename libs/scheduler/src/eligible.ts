import { NODE_FILTERS } from './filters';
import type { PendingTask, SchedNode } from './model';
import { loadNodes } from './node-load';
import type { TaskSpec } from './task-spec';

/**
 * Whether a node that already holds the service's slot keeps it though it fails `filter`: while
 * it is not ready (down, or unknown after a leader change) nowhere else could run its task, and
 * a paused node keeps its tasks by definition (pause places no new ones). Drained it is not.
 */
function spared(filter: string, node: SchedNode): boolean {
  return filter === 'ready' || (filter === 'availability' && node.availability === 'pause');
}

/**
 * The nodes a global service wants one task on: those that pass the scheduler's node-level
 * filters (NODE_FILTERS: ready, active, serves the runtime, meets the constraints) for the
 * service's task spec. They are the scheduler's own Filter objects, so the orchestrator never
 * wants a slot the scheduler would refuse by the node alone; what depends on load (resources,
 * host ports, max per node) the scheduler judges when it places the task, and explains.
 *
 * A node that already holds a slot (`holdsSlot`) keeps it while it is not ready — down, or
 * unknown after a leader change — so its task is left alone: nowhere else could run it; and
 * while it is paused, which keeps a node's tasks. Pure; `nodes` keep their order.
 */
export function eligibleNodes(spec: TaskSpec, nodes: readonly SchedNode[], holdsSlot: (node: string) => boolean = () => false): SchedNode[] {
  const probe: PendingTask = { id: '', service: '', slot: 0, ...spec };
  const filters = NODE_FILTERS.filter((f) => f.relevant(probe));
  return [...loadNodes(nodes, []).values()]
    .filter((load) => filters.every((f) => f.check(probe, load).fit || (spared(f.name, load.node) && holdsSlot(load.node.name))))
    .map((load) => load.node);
}

import { FILTERS } from './filters';
import type { PendingTask, PlacedTask, Placement, SchedNode, ScheduleResult, Unschedulable } from './model';
import { loadNodes, place, type NodeLoad } from './node-load';
import { compareNodes, groupLoad } from './scorers';

/**
 * Places pending tasks on nodes. Pure: no I/O, no clock, deterministic for the same input.
 * Tasks are placed one at a time, each seeing the load of the placements before it, so a batch
 * never over-commits a node or reuses a host port: first the tasks bound to one node
 * (`targetNode`, global services), which can go nowhere else, then the others, each in
 * (service, slot) order.
 */
export function schedule(input: {
  readonly nodes: readonly SchedNode[];
  readonly pending: readonly PendingTask[];
  readonly placed?: readonly PlacedTask[];
}): ScheduleResult {
  const byName = loadNodes(input.nodes, input.placed ?? []);
  const loads = [...byName.values()];
  const placements: Placement[] = [];
  const unschedulable: Unschedulable[] = [];
  const ordered = [...input.pending].sort(
    (a, b) => Number(a.targetNode === undefined) - Number(b.targetNode === undefined) || a.service.localeCompare(b.service) || a.slot - b.slot || a.id.localeCompare(b.id),
  );
  for (const task of ordered) {
    const candidates = candidatesFor(task, byName, loads);
    const { feasible, reasons } = filterNodes(task, candidates);
    if (feasible.length === 0) {
      const gone = task.targetNode !== undefined && candidates.length === 0;
      unschedulable.push({ taskId: task.id, explanation: gone ? `node ${task.targetNode} is not in the cluster` : explain(reasons, candidates.length) });
      continue;
    }
    const inGroup = groupLoad(task, loads);
    const best = feasible.reduce((a, b) => (compareNodes(task, b, a, inGroup) < 0 ? b : a));
    place(best, task);
    placements.push({ taskId: task.id, node: best.node.name });
  }
  return { placements, unschedulable };
}

/** A task bound to a node is judged on that node alone, through every filter; any other on all nodes. */
function candidatesFor(task: PendingTask, byName: ReadonlyMap<string, NodeLoad>, all: readonly NodeLoad[]): readonly NodeLoad[] {
  if (task.targetNode === undefined) return all;
  const target = byName.get(task.targetNode);
  return target ? [target] : [];
}

function filterNodes(task: PendingTask, loads: readonly NodeLoad[]): { feasible: NodeLoad[]; reasons: Map<string, number> } {
  const filters = FILTERS.filter((f) => f.relevant(task));
  const feasible: NodeLoad[] = [];
  const reasons = new Map<string, number>();
  for (const load of loads) {
    let reason: string | undefined;
    for (const f of filters) {
      const r = f.check(task, load);
      if (!r.fit) {
        reason = r.reason;
        break;
      }
    }
    if (reason === undefined) feasible.push(load);
    else reasons.set(reason, (reasons.get(reason) ?? 0) + 1);
  }
  return { feasible, reasons };
}

/** "3 nodes: insufficient memory (needs 64Mi); 1 node: drained" — most common reason first. */
export function explain(reasons: ReadonlyMap<string, number>, nodeCount: number): string {
  if (nodeCount === 0) return 'no nodes in the cluster';
  return [...reasons]
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
    .map(([reason, n]) => `${n} node${n === 1 ? '' : 's'}: ${reason}`)
    .join('; ');
}

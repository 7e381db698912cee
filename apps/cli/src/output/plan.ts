import type { PlanView, TaskMoveView } from '@berth/api';
import { renderTable } from './table';

/**
 * `berth plan --without`: one row per task of the lost nodes, then one line saying whether
 * everything fits. The outcome column reads as a sentence: "→ n2", "would not fit: …", "stops: …".
 */
export function renderPlan(plan: PlanView): string {
  const nodes = plan.without.join(', ');
  if (plan.tasks.length === 0) return `without ${nodes}: no live task runs there; nothing would move`;
  const table = renderTable(
    ['task', 'service', 'from', 'would'],
    plan.tasks.map((t) => [t.task, t.service, t.from, outcome(t)]),
  );
  return `${table}\n\n${summary(plan, nodes)}`;
}

function outcome(t: TaskMoveView): string {
  switch (t.outcome) {
    case 'moves':
      return `move to ${t.to ?? '?'}`;
    case 'unschedulable':
      return `not fit: ${t.reason ?? 'no node fits'}`;
    case 'stops':
      return `stop: ${t.reason ?? 'it has nowhere else to run'}`;
  }
}

function summary(plan: PlanView, nodes: string): string {
  const count = (o: TaskMoveView['outcome']) => plan.tasks.filter((t) => t.outcome === o).length;
  const tasks = (n: number) => `${n} task${n === 1 ? '' : 's'}`;
  const moving = count('moves');
  const stopping = count('stops');
  const stuck = plan.tasks.filter((t) => t.outcome === 'unschedulable');
  const rest = [moving > 0 ? `${tasks(moving)} would move` : '', stopping > 0 ? `${tasks(stopping)} of global services would stop with ${nodes}` : '']
    .filter((s) => s !== '')
    .join('; ');
  if (stuck.length === 0) return `without ${nodes}: everything fits${rest ? ` (${rest})` : ''}`;
  const services = [...new Set(stuck.map((t) => t.service))].join(', ');
  return `without ${nodes}: ${tasks(stuck.length)} would not fit (${services})${rest ? `; ${rest}` : ''}`;
}

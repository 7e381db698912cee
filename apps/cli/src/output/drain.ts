import type { TaskView } from '@berth/api';
import { isTerminal } from '@berth/core';

/** Where a drain stands, from every task of the cluster. */
export type DrainProgress =
  | { readonly kind: 'empty' }
  /** Every task left on the node has a replacement no node can take: the reasons, one per task. */
  | { readonly kind: 'stuck'; readonly reasons: readonly string[] }
  | { readonly kind: 'moving'; readonly line: string };

/** A task still meant to run on the node (a task being stopped is on its way out). */
function staysOn(t: TaskView, node: string): boolean {
  return (t.status.node ?? t.spec.node) === node && t.spec.desiredState === 'running' && !isTerminal(t.status.state);
}

/**
 * Pure: how far draining `node` got. Empty once no task is meant to run there; stuck when each
 * task left has a replacement that waits with the scheduler's explanation (no node fits it), so
 * nothing more can move; moving otherwise, with a progress line.
 */
export function assessDrain(node: string, tasks: readonly TaskView[]): DrainProgress {
  const left = tasks.filter((t) => staysOn(t, node));
  if (left.length === 0) return { kind: 'empty' };
  const replacementOf = new Map(
    tasks.filter((t) => t.spec.replaces !== undefined && t.spec.desiredState === 'running' && !isTerminal(t.status.state)).map((t) => [t.spec.replaces!, t]),
  );
  const reasons: string[] = [];
  for (const t of left) {
    const r = replacementOf.get(t.metadata.name);
    const waiting = r !== undefined && r.status.state === 'pending' && r.spec.node === undefined && r.status.message !== undefined;
    if (waiting) reasons.push(`${t.metadata.name} cannot move: ${r.status.message}`);
  }
  if (reasons.length === left.length) return { kind: 'stuck', reasons };
  const moving = left.flatMap((t) => {
    const r = replacementOf.get(t.metadata.name);
    return r ? [`${r.metadata.name} ${r.status.state}`] : [];
  });
  const line = `node/${node}: ${left.length} task${left.length === 1 ? '' : 's'} left${moving.length > 0 ? ` (replacements: ${moving.join(', ')})` : ''}`;
  return { kind: 'moving', line };
}

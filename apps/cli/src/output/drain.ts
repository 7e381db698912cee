import type { TaskView } from '@berth/api';
import { isTerminal } from '@berth/core';

/** Where a drain stands, from every task of the cluster. */
export type DrainProgress =
  | { readonly kind: 'empty' }
  /** Every task left on the node has a replacement no node can take: the reasons, one per task. */
  | { readonly kind: 'stuck'; readonly reasons: readonly string[] }
  | { readonly kind: 'moving'; readonly line: string };

/** A task of the node that has not ended yet (one being stopped still runs there). */
function stillOn(t: TaskView, node: string): boolean {
  return (t.status.node ?? t.spec.node) === node && !isTerminal(t.status.state);
}

/**
 * Pure: how far draining `node` got. Empty once no task of it is left unfinished (the ones being
 * stopped included); stuck when each task left is meant to keep running there because its
 * replacement waits with the scheduler's explanation (no node fits it), so nothing more can move;
 * moving otherwise, with a progress line.
 */
export function assessDrain(node: string, tasks: readonly TaskView[]): DrainProgress {
  const left = tasks.filter((t) => stillOn(t, node));
  if (left.length === 0) return { kind: 'empty' };
  const replacementOf = new Map(
    tasks.filter((t) => t.spec.replaces !== undefined && t.spec.desiredState === 'running' && !isTerminal(t.status.state)).map((t) => [t.spec.replaces!, t]),
  );
  const reasons: string[] = [];
  for (const t of left) {
    if (t.spec.desiredState !== 'running') continue; // being stopped: on its way out
    const r = replacementOf.get(t.metadata.name);
    const waiting = r !== undefined && r.status.state === 'pending' && r.spec.node === undefined && r.status.message !== undefined;
    if (waiting) reasons.push(`${t.metadata.name} cannot move: ${r.status.message}`);
  }
  if (reasons.length === left.length) return { kind: 'stuck', reasons };
  const stopping = left.filter((t) => t.spec.desiredState === 'shutdown').length;
  const moving = left.flatMap((t) => {
    const r = replacementOf.get(t.metadata.name);
    return r && t.spec.desiredState === 'running' ? [`${r.metadata.name} ${r.status.state}`] : [];
  });
  const details = [...(moving.length > 0 ? [`replacements: ${moving.join(', ')}`] : []), ...(stopping > 0 ? [`${stopping} stopping`] : [])];
  const line = `node/${node}: ${left.length} task${left.length === 1 ? '' : 's'} left${details.length > 0 ? ` (${details.join('; ')})` : ''}`;
  return { kind: 'moving', line };
}

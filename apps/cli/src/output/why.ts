import type { TaskView } from '@berth/api';
import { isTerminal } from '@berth/core';
import { taskOutcome } from './rollout';

/**
 * `berth why TASK`: for a pending task the scheduler's explanation of why no node takes it
 * ("3 nodes: insufficient memory (needs 64Mi); 1 node: drained"; a global task's names the one
 * node it is for), otherwise where the task stands: its state, node, health and message.
 */
export function explainTask(t: TaskView): string {
  const { state, message } = t.status;
  const id = t.metadata.name;
  if (state === 'pending') return `${id}: pending${t.spec.targetNode ? ` for ${t.spec.targetNode}` : ''}: ${message ?? 'waiting for the scheduler to place it'}`;
  if (state === 'new') return `${id}: new: waiting for the orchestrator to queue it for scheduling`;
  if (isTerminal(state)) return taskOutcome(t);
  const node = t.status.node ?? t.spec.node;
  const where = node ? ` on ${node}` : '';
  const health = t.status.health ? ` (health: ${t.status.health})` : '';
  const stopping = t.spec.desiredState === 'shutdown' ? ' (being stopped)' : '';
  return `${id}: ${state}${where}${health}${stopping}${message ? `: ${message}` : ''}`;
}

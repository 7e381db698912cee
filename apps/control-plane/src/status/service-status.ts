import { isTaskCurrent, isTaskUp, type NodeInfo, type Service, type ServiceStatus, type Task, type TaskTemplate } from '@berth/core';
import { eligibleNodes, taskSpec } from '@berth/scheduler';

/**
 * Nodes a global service wants a task running on: the ready ones that pass the scheduler's
 * node-level filters for its spec (active, serve its runtime, meet its constraints), plus a
 * paused one that keeps its task — the orchestrator's own rule (eligibleNodes), so desired and
 * planned slots agree.
 */
export function eligibleNodeCount(service: Service, tasks: readonly Task[], nodes: readonly NodeInfo[]): number {
  const holding = new Set(tasks.filter((t) => t.service === service.meta.name && t.desiredState === 'running').map((t) => t.nodeName ?? t.targetNode));
  return eligibleNodes(taskSpec(service.spec.template, service.spec.placement), nodes, (node) => holding.has(node)).filter((n) => n.state === 'ready').length;
}

/**
 * The observed status of one service, from its tasks and the nodes (pure).
 * - desired: spec.replicas, or for global services the number of eligible ready nodes;
 * - running: slots with a task up (isTaskUp: observed running and, when they have a health
 *   check, healthy — Swarm's rule, so `apply --wait` waits for health) that is also meant to run
 *   (a task being stopped is not counted even while it still runs) and is not on a down node
 *   or one the operator removed (its last report is all anyone knows of it). A slot counts
 *   once, even while a task and its replacement both run (drain);
 * - updated: the running slots that run the service's current template (isTaskCurrent), so a
 *   scale, which changes no template, leaves every running task updated.
 */
export function computeServiceStatus(
  service: Service,
  tasks: readonly (Task & { readonly template?: TaskTemplate })[],
  nodes: readonly NodeInfo[],
  now: string,
): ServiceStatus {
  const reachable = new Set(nodes.filter((n) => n.state !== 'down').map((n) => n.name));
  const onLostNode = (t: Task): boolean => t.nodeName !== undefined && !reachable.has(t.nodeName);
  const running = tasks.filter((t) => t.service === service.meta.name && t.desiredState === 'running' && isTaskUp(t) && !onLostNode(t));
  const slots = (ts: readonly Task[]): number => new Set(ts.map((t) => t.slot)).size;
  return {
    desired: service.spec.mode === 'global' ? eligibleNodeCount(service, tasks, nodes) : service.spec.replicas,
    running: slots(running),
    updated: slots(running.filter((t) => isTaskCurrent(t, service))),
    observedGeneration: service.meta.generation,
    updatedAt: now,
  };
}

/** Equal in every field but the timestamp: a status that only aged is not rewritten. */
export function sameStatus(a: ServiceStatus, b: ServiceStatus): boolean {
  return (
    a.desired === b.desired &&
    a.running === b.running &&
    a.updated === b.updated &&
    a.observedGeneration === b.observedGeneration
  );
}

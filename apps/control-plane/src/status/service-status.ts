import { isTaskCurrent, isTaskUp, type NodeInfo, type Service, type ServiceStatus, type Task, type TaskTemplate } from '@berth/core';

/** Nodes a global service wants one task on: ready and accepting work. */
export function eligibleNodeCount(nodes: readonly NodeInfo[]): number {
  return nodes.filter((n) => n.state === 'ready' && n.availability === 'active').length;
}

/**
 * The observed status of one service, from its tasks and the nodes (pure).
 * - desired: spec.replicas, or for global services the number of ready + active nodes;
 * - running: tasks up (isTaskUp: observed running and, when they have a health check, healthy —
 *   Swarm's rule, so `apply --wait` waits for health) that are also meant to run (a task being
 *   stopped is not counted even while it still runs);
 * - updated: the running ones that run the service's current template (isTaskCurrent), so a
 *   scale, which changes no template, leaves every running task updated.
 */
export function computeServiceStatus(
  service: Service,
  tasks: readonly (Task & { readonly template?: TaskTemplate })[],
  nodes: readonly NodeInfo[],
  now: string,
): ServiceStatus {
  const running = tasks.filter(
    (t) => t.service === service.meta.name && t.desiredState === 'running' && isTaskUp(t),
  );
  return {
    desired: service.spec.mode === 'global' ? eligibleNodeCount(nodes) : service.spec.replicas,
    running: running.length,
    updated: running.filter((t) => isTaskCurrent(t, service)).length,
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

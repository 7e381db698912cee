import { parseConstraint, type Constraint, type NodeInfo, type Service, type TaskState } from '@berth/core';
import type { HostPort, PendingTask, PlacedTask } from '@berth/scheduler';
import type { TaskRecord } from '@berth/store';

/** States in which a placed task holds its node's resources. */
const HOLDING: ReadonlySet<TaskState> = new Set(['assigned', 'preparing', 'starting', 'running']);

export interface SchedulingInput {
  readonly nodes: readonly NodeInfo[];
  readonly pending: PendingTask[];
  readonly placed: PlacedTask[];
}

function hostPorts(t: TaskRecord): HostPort[] {
  return (t.template?.ports ?? []).flatMap((p) => (p.hostPort !== undefined ? [{ port: p.hostPort, protocol: p.protocol }] : []));
}

function constraints(service: Service): Constraint[] {
  return service.spec.placement.constraints.flatMap((c) => {
    const parsed = parseConstraint(c);
    return parsed.ok ? [parsed.value] : [];
  });
}

/**
 * What the pure scheduler sees, from the informer caches: tasks waiting for a node (pending, no
 * node, still wanted, with a template and a live service) and tasks holding resources on one.
 * Resources come from the task's own template (its generation), placement rules from the service.
 */
export function schedulingInput(tasks: readonly TaskRecord[], services: (name: string) => Service | undefined, nodes: readonly NodeInfo[]): SchedulingInput {
  const pending: PendingTask[] = [];
  const placed: PlacedTask[] = [];
  for (const t of tasks) {
    if (!t.template || t.desiredState !== 'running') continue;
    const cpuMillis = t.template.resources.cpuMillis ?? 0;
    const memoryBytes = t.template.resources.memoryBytes ?? 0;
    if (t.nodeName) {
      if (HOLDING.has(t.status.state)) placed.push({ id: t.id, service: t.service, node: t.nodeName, cpuMillis, memoryBytes, hostPorts: hostPorts(t) });
      continue;
    }
    const service = services(t.service);
    if (t.status.state !== 'pending' || !service) continue;
    pending.push({
      id: t.id,
      service: t.service,
      slot: t.slot,
      runtime: t.template.runtime,
      cpuMillis,
      memoryBytes,
      hostPorts: hostPorts(t),
      constraints: constraints(service),
      maxPerNode: service.spec.placement.maxPerNode,
      strategy: service.spec.placement.strategy,
    });
  }
  return { nodes, pending, placed };
}

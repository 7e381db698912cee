import { parseConstraint, parseSpreadBy, type Constraint, type Placement, type TaskTemplate } from '@berth/core';
import type { HostPort, PendingTask } from './model';

/**
 * What a task asks of a node: the PendingTask fields that come from its template and placement
 * rules, not from its identity or history. The scheduler's snapshot builds it from a task's own
 * record, the orchestrator from the service (for `eligibleNodes`): one function, so both read a
 * spec the same way.
 */
export type TaskSpec = Pick<PendingTask, 'runtime' | 'cpuMillis' | 'memoryBytes' | 'hostPorts' | 'constraints' | 'maxPerNode' | 'strategy' | 'spreadBy'>;

/** The host ports a task of this template publishes on its node. */
export function hostPortsOf(template: TaskTemplate): HostPort[] {
  return template.ports.flatMap((p) => (p.hostPort !== undefined ? [{ port: p.hostPort, protocol: p.protocol }] : []));
}

/** Parsed once here; validation at the edge guarantees they parse, so nothing is dropped in practice. */
function parsedConstraints(texts: readonly string[]): Constraint[] {
  return texts.flatMap((c) => {
    const parsed = parseConstraint(c);
    return parsed.ok ? [parsed.value] : [];
  });
}

export function taskSpec(template: TaskTemplate, placement: Placement): TaskSpec {
  const spreadBy = placement.spreadBy === undefined ? undefined : parseSpreadBy(placement.spreadBy);
  return {
    runtime: template.runtime,
    // An unlimited task requests nothing: it competes for what is left.
    cpuMillis: template.resources.cpuMillis ?? 0,
    memoryBytes: template.resources.memoryBytes ?? 0,
    hostPorts: hostPortsOf(template),
    constraints: parsedConstraints(placement.constraints),
    maxPerNode: placement.maxPerNode,
    strategy: placement.strategy,
    ...(spreadBy?.ok ? { spreadBy: spreadBy.value } : {}),
  };
}

import type { NodeInfo, Service, TaskState } from '@berth/core';
import { hostPortsOf, taskSpec, type PendingTask, type PlacedTask } from '@berth/scheduler';
import type { TaskRecord } from '@berth/store';

/** States in which a placed task holds its node's resources. */
const HOLDING: ReadonlySet<TaskState> = new Set(['assigned', 'preparing', 'starting', 'running']);

/**
 * How long a node that rejected a task keeps being avoided for the next tasks of the same slot.
 * Long enough for the replacement (restart backoff) to land elsewhere; short enough that a port
 * freed on a single-node cluster is used again without anyone stepping in.
 */
export const REJECTION_COOLDOWN_MS = 60_000;

export interface SchedulingInput {
  readonly nodes: readonly NodeInfo[];
  readonly pending: PendingTask[];
  readonly placed: PlacedTask[];
  /**
   * Ms from `now` until the first node avoided by a pending task stops being avoided: schedule
   * again then, as no store event will say so. Undefined when no pending task avoids a node.
   */
  readonly nextExpiryMs?: number;
}

export interface SnapshotOptions {
  /** Epoch ms; rejections age against it. */
  readonly now: number;
  /** Default REJECTION_COOLDOWN_MS. */
  readonly rejectionCooldownMs?: number;
}

/** One node's latest refusal of a slot's task: why (without the node's name), and until when it counts. */
interface Rejection {
  readonly reason: string;
  readonly until: number;
}

const slotKey = (t: Pick<TaskRecord, 'service' | 'slot'>): string => `${t.service}/${t.slot}`;

/**
 * The agent's message names its node ("… is already in use on node a"); explanations count
 * reasons across nodes, so the name goes.
 */
function rejectionReason(message: string | undefined, nodeName: string): string {
  const name = nodeName.replace(/[.]/g, '\\.');
  const reason = (message ?? '').replace(new RegExp(`\\s*\\bon node ${name}(?![a-z0-9-]|\\.[a-z0-9])`, 'g'), '').trim();
  return reason || 'the node refused it';
}

/** Slot → node → that node's latest rejection of one of the slot's tasks, still within the cooldown. */
function recentRejections(tasks: readonly TaskRecord[], now: number, cooldownMs: number): Map<string, Map<string, Rejection>> {
  const bySlot = new Map<string, Map<string, Rejection>>();
  for (const t of tasks) {
    if (t.status.state !== 'rejected' || !t.nodeName) continue;
    const until = Date.parse(t.status.updatedAt) + cooldownMs;
    if (Number.isNaN(until) || until <= now) continue;
    const byNode = bySlot.get(slotKey(t)) ?? new Map<string, Rejection>();
    bySlot.set(slotKey(t), byNode);
    if ((byNode.get(t.nodeName)?.until ?? -Infinity) < until) byNode.set(t.nodeName, { reason: rejectionReason(t.status.message, t.nodeName), until });
  }
  return bySlot;
}

/**
 * What the pure scheduler sees, from the cluster cache: tasks waiting for a node (pending, no
 * node, still wanted, with a template and a live service) and tasks holding resources on one —
 * those being stopped included, until they have ended.
 * A task is placed by its own spec: resources from its template, rules from the placement copied
 * into it at creation (the service's for records stored without one), and a global task only on
 * its `targetNode`. A node that rejected a task of the same slot less than the cooldown ago is avoided
 * (`rejectedBy`): a restart there would most likely meet the same conflict.
 */
export function schedulingInput(
  tasks: readonly TaskRecord[],
  services: (name: string) => Service | undefined,
  nodes: readonly NodeInfo[],
  opts: SnapshotOptions,
): SchedulingInput {
  const rejections = recentRejections(tasks, opts.now, opts.rejectionCooldownMs ?? REJECTION_COOLDOWN_MS);
  const pending: PendingTask[] = [];
  const placed: PlacedTask[] = [];
  let firstExpiry = Infinity;
  for (const t of tasks) {
    if (!t.template) continue;
    if (t.nodeName) {
      // A task being stopped still holds its node's resources and host ports until it has ended:
      // its stop-first replacement waits for them rather than be refused by the node.
      const { cpuMillis = 0, memoryBytes = 0 } = t.template.resources;
      if (HOLDING.has(t.status.state)) placed.push({ id: t.id, service: t.service, node: t.nodeName, cpuMillis, memoryBytes, hostPorts: hostPortsOf(t.template) });
      continue;
    }
    if (t.desiredState !== 'running') continue;
    const service = services(t.service);
    if (t.status.state !== 'pending' || !service) continue;
    const avoided = rejections.get(slotKey(t));
    for (const r of avoided?.values() ?? []) firstExpiry = Math.min(firstExpiry, r.until);
    pending.push({
      id: t.id,
      service: t.service,
      slot: t.slot,
      ...taskSpec(t.template, t.placement ?? service.spec.placement),
      ...(t.targetNode ? { targetNode: t.targetNode } : {}),
      ...(avoided ? { rejectedBy: new Map([...avoided].map(([node, r]) => [node, r.reason])) } : {}),
    });
  }
  return { nodes, pending, placed, ...(firstExpiry < Infinity ? { nextExpiryMs: firstExpiry - opts.now } : {}) };
}

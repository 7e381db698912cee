import { templateSource, type NewEvent, type TaskTemplate } from '@berth/core';
import type { Decision, ServiceRecord } from './records';

/** The events of the service writes, stated once for the etcd store and its in-memory double. */

const about = (name: string) => ({ kind: 'service', object: name, service: name }) as const;

/** `image → digest`, as far as it was resolved (`vm.disk PATH` for a disk VM). */
export function imageText(t: TaskTemplate): string {
  return t.imageDigest ? `${t.image} → ${t.imageDigest.slice(0, 19)}…` : templateSource(t);
}

/** What an apply did to one service; nothing for `unchanged`. */
export function appliedEvents(d: Decision, stored: ServiceRecord | undefined): NewEvent[] {
  const r = d.record;
  if (d.action === 'unchanged') return [];
  if (d.action === 'created' || !stored) {
    return [{ ...about(r.name), reason: 'Created', message: `created: ${r.spec.replicas} replica(s) of ${imageText(r.spec.template)} (revision ${r.revision})` }];
  }
  if (r.revision === stored.revision) {
    if (r.spec.replicas !== stored.spec.replicas) return [scaledEvent(r.name, stored.spec.replicas, r.spec.replicas, 'apply')];
    return [{ ...about(r.name), reason: 'Updated', message: `applied generation ${r.generation} (labels or settings; nothing to roll out)` }];
  }
  return [{ ...about(r.name), reason: 'Updated', message: `applied generation ${r.generation}: revision ${r.revision} (image ${imageText(r.spec.template)})` }];
}

export function scaledEvent(name: string, from: number, to: number, how: string): NewEvent {
  return { ...about(name), reason: 'Scaled', message: `scaled from ${from} to ${to} replica(s) (${how})` };
}

export function deletedEvent(name: string): NewEvent {
  return { ...about(name), reason: 'Deleted', message: 'deleted: its tasks stop' };
}

export function restartedEvent(r: ServiceRecord): NewEvent {
  return { ...about(r.name), reason: 'Restarted', message: `restarted: revision ${r.revision} replaces every task (image ${imageText(r.spec.template)})` };
}

export function undoneEvent(r: ServiceRecord, toRevision: number): NewEvent {
  return { ...about(r.name), reason: 'Undone', message: `rollout undone: revision ${r.revision} is revision ${toRevision}'s spec again (image ${imageText(r.spec.template)})` };
}

export function rolloutControlEvent(name: string, action: 'pause' | 'resume', revision: number): NewEvent {
  return action === 'pause'
    ? { kind: 'rollout', object: name, service: name, reason: 'Paused', message: `rollout of revision ${revision} paused by the operator` }
    : { kind: 'rollout', object: name, service: name, reason: 'Resumed', message: `rollout of revision ${revision} resumed by the operator` };
}

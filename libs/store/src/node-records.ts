import { ConflictError, NotFoundError, type NewEvent, type NodeAvailability, type NodeInfo } from '@berth/core';
import type { NodeLabelChange, NodeRegistration } from './store';

/**
 * The pure halves of the node writes, shared by the etcd store and its in-memory double: what
 * `nodes/<name>` holds, what each write makes of it, what readers see, and the events.
 */

/** The operator's labels of a node, kept apart from the agent's so that a new Hello keeps them. */
export interface OperatorLabels {
  /** Set over the agent's labels (or added). */
  readonly set: Readonly<Record<string, string>>;
  /** Removed from the agent's labels, sorted. */
  readonly remove: readonly string[];
}

/**
 * What `nodes/<name>` holds: the node as its agent describes it (`labels` are the agent's), with
 * the operator's availability and labels. Never `state`, `downSince` or `sessionRevision` (they
 * come from alive/<name> and status/nodes/<name>), nor resourceVersion (the key's mod_revision).
 */
export type NodeRecord = Omit<NodeInfo, 'state' | 'downSince' | 'sessionRevision' | 'resourceVersion'> & {
  readonly operatorLabels?: OperatorLabels;
};

/** What etcd says about a node's liveness besides its record. */
export interface NodeLiveness {
  /** mod_revision of `alive/<name>`, when the key exists (a session holds it). */
  readonly aliveRevision?: string;
  /** From the leader's `status/nodes/<name>` record, when it declared the node down. */
  readonly downSince?: string;
}

/** The JSON of `status/nodes/<name>`. */
export interface NodeLivenessRecord {
  readonly downSince: string;
}

export function encodeNodeRecord(record: NodeRecord): string {
  return JSON.stringify(record);
}

/** Records written before `NodeRecord` existed were NodeInfo minus state: read the same. */
export function decodeNodeRecord(text: string): NodeRecord {
  const { state: _s, downSince: _d, sessionRevision: _r, resourceVersion: _v, ...record } = JSON.parse(text) as NodeRecord & Partial<NodeInfo>;
  return record;
}

/** The node's labels: the agent's, overlaid with the operator's sets, minus the operator's removals. */
export function effectiveLabels(record: NodeRecord): Record<string, string> {
  const labels: Record<string, string> = { ...record.labels, ...record.operatorLabels?.set };
  for (const key of record.operatorLabels?.remove ?? []) delete labels[key];
  return labels;
}

/** The node as readers see it before liveness is joined (`state` unknown; see withLiveness). */
export function nodeInfoOf(record: NodeRecord, resourceVersion: string): NodeInfo {
  const { operatorLabels: _operator, ...rest } = record;
  return { ...rest, labels: effectiveLabels(record), state: 'unknown', resourceVersion };
}

/**
 * The stored node with its derived state: `ready` while its alive key exists; `down` once the
 * leader declared it so (the key is gone and the leader's grace, if any, is over); `unknown` in
 * between — absent, but not (yet) declared down.
 */
export function withLiveness(node: NodeInfo, l: NodeLiveness): NodeInfo {
  const { state: _derived, downSince: _d, sessionRevision: _s, ...rest } = node;
  if (l.aliveRevision !== undefined) return { ...rest, state: 'ready', sessionRevision: l.aliveRevision };
  if (l.downSince !== undefined) return { ...rest, state: 'down', downSince: l.downSince };
  return { ...rest, state: 'unknown' };
}

/** An agent's Hello over what is stored: the agent's description; the operator's availability and labels stay. */
export function registeredNode(current: NodeRecord | undefined, reg: NodeRegistration): NodeRecord {
  return {
    name: reg.name,
    labels: { ...reg.labels },
    availability: current?.availability ?? 'active',
    address: reg.address,
    capacity: { ...reg.capacity },
    drivers: [...reg.drivers],
    ...(reg.driverDetails && Object.keys(reg.driverDetails).length > 0 ? { driverDetails: { ...reg.driverDetails } } : {}),
    ...(reg.runtimes ? { runtimes: [...reg.runtimes] } : {}),
    ...(reg.agentVersion ? { agentVersion: reg.agentVersion } : {}),
    ...(reg.metricsAddress ? { metricsAddress: reg.metricsAddress } : {}),
    ...(current?.operatorLabels ? { operatorLabels: current.operatorLabels } : {}),
  };
}

export function withAvailability(current: NodeRecord | undefined, name: string, availability: NodeAvailability): NodeRecord {
  if (!current) throw new NotFoundError('node', name);
  return { ...current, availability };
}

/** The operator's label change over the stored operator labels: the latest word on each key wins. */
export function relabeled(current: NodeRecord | undefined, name: string, change: NodeLabelChange): NodeRecord {
  if (!current) throw new NotFoundError('node', name);
  const set: Record<string, string> = { ...current.operatorLabels?.set };
  const remove = new Set(current.operatorLabels?.remove);
  for (const [key, value] of Object.entries(change.set)) {
    set[key] = value;
    remove.delete(key);
  }
  for (const key of change.remove) {
    delete set[key];
    remove.add(key);
  }
  return { ...current, operatorLabels: { set, remove: [...remove].sort() } };
}

/** Why a ready node is not removed without `force`. */
export function readyNodeConflict(name: string): ConflictError {
  return new ConflictError(`node ${name} is ready: stop its agent first (it is marked down once its lease runs out), or use --force`);
}

const about = (name: string) => ({ kind: 'node', object: name, node: name }) as const;

/** What an operator's or agent's write of a node record means, as events. */
export function nodeEvents(before: NodeRecord | undefined, after: NodeRecord): NewEvent[] {
  if (!before) return [{ ...about(after.name), reason: 'Registered', message: `registered (${after.address}; drivers ${after.drivers.join(', ') || 'none'})` }];
  const out: NewEvent[] = [];
  if (before.availability !== after.availability) out.push(availabilityEvent(after.name, after.availability));
  const change = labelChange(before.operatorLabels, after.operatorLabels);
  if (change) out.push({ ...about(after.name), reason: 'Labeled', message: `labels: ${change}` });
  return out;
}

function availabilityEvent(name: string, availability: NodeAvailability): NewEvent {
  switch (availability) {
    case 'drain':
      return { ...about(name), reason: 'Drained', message: 'drained: its tasks move to other nodes' };
    case 'pause':
      return { ...about(name), reason: 'Paused', message: 'paused: no new tasks are placed on it' };
    case 'active':
      return { ...about(name), reason: 'Activated', message: 'activated: it takes new tasks again' };
  }
}

/** `zone=a, rack-`: the operator's keys set and removed by a change; undefined when none changed. */
function labelChange(before: OperatorLabels | undefined, after: OperatorLabels | undefined): string | undefined {
  const sets = Object.entries(after?.set ?? {}).filter(([k, v]) => before?.set[k] !== v);
  const removes = (after?.remove ?? []).filter((k) => !before?.remove.includes(k));
  const parts = [...sets.map(([k, v]) => `${k}=${v}`), ...removes.map((k) => `${k}-`)];
  return parts.length > 0 ? parts.join(', ') : undefined;
}

/** A session bound the node's alive key while it had none: a reconnect within the lease's TTL is no event. */
export function readyEvent(name: string): NewEvent {
  return { ...about(name), reason: 'Ready', message: 'ready: its agent connected' };
}

/** The event of a node's removal; `wasReady` only with force. */
export function removedEvent(name: string, wasReady: boolean): NewEvent {
  const how = wasReady ? ' while ready (forced: its agent registers it again if it reconnects)' : '';
  return { ...about(name), reason: 'Removed', message: `removed by the operator${how}; its tasks are replaced on other nodes` };
}

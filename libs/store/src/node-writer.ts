import { ConflictError, NotFoundError, type NewEvent, type NodeAvailability, type NodeInfo } from '@berth/core';
import type { Etcd3, IKeyValue, Lease } from 'etcd3';
import { encodeVersioned, nodeCodec, nodeLivenessCodec } from './codecs';
import { etcdCall } from './etcd-client';
import { nameOf, prefixEnd, type Keyspace } from './keys';
import { eventOps } from './event-log';
import { getKey, ifAbsent, ifModRevision, putOp, txn } from './kv';
import type { NodeRegistration, NodeSessionLease } from './store';

const MAX_ATTEMPTS = 5;

/** What etcd says about a node's liveness besides its record. */
export interface NodeLiveness {
  /** mod_revision of `alive/<name>`, when the key exists (a session holds it). */
  readonly aliveRevision?: string;
  /** From the leader's `status/nodes/<name>` record, when it declared the node down. */
  readonly downSince?: string;
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

/** The JSON of `status/nodes/<name>`. */
export interface NodeLivenessRecord {
  readonly downSince: string;
}

/** What nodes/<name> holds: the node without `state`, which is never stored (it is the alive key). */
function encodeNode(node: NodeInfo): string {
  const { state: _derived, downSince: _d, sessionRevision: _s, ...rest } = node;
  return encodeVersioned(rest);
}

/**
 * Node registration, availability and liveness on etcd. A node is `ready` exactly while
 * `alive/<name>` exists; that key is bound to a lease the node's dispatcher session renews.
 */
export class EtcdNodeWriter {
  constructor(
    private readonly client: Etcd3,
    private readonly keys: Keyspace,
  ) {}

  /** Every node with its derived state, from one consistent read of nodes/, alive/ and status/nodes/. */
  async list(): Promise<NodeInfo[]> {
    const alivePrefix = this.keys.alive('');
    const range = (prefix: string, keysOnly = false) => ({ request_range: { key: Buffer.from(prefix), range_end: prefixEnd(prefix), keys_only: keysOnly } });
    const res = await txn(this.client, 'list nodes', {
      compare: [],
      success: [range(this.keys.nodes), range(alivePrefix, true), range(this.keys.nodeStatuses)],
    });
    const kvsOf = (i: number) => res.responses[i]?.response_range.kvs ?? [];
    const alive = new Map(kvsOf(1).map((kv) => [nameOf(kv.key.toString()), kv.mod_revision]));
    const down = new Map(kvsOf(2).map((kv) => [nameOf(kv.key.toString()), nodeLivenessCodec.decode(kv).downSince]));
    return kvsOf(0).map((kv) => {
      const node = nodeCodec.decode(kv);
      return withLiveness(node, { aliveRevision: alive.get(node.name), downSince: down.get(node.name) });
    });
  }

  async get(name: string): Promise<NodeInfo | undefined> {
    const [kv, alive, down] = await Promise.all([
      getKey(this.client, this.keys.node(name)),
      getKey(this.client, this.keys.alive(name)),
      getKey(this.client, this.keys.nodeStatus(name)),
    ]);
    return kv && withLiveness(nodeCodec.decode(kv), { aliveRevision: alive?.mod_revision, downSince: down && nodeLivenessCodec.decode(down).downSince });
  }

  async register(reg: NodeRegistration): Promise<NodeInfo> {
    return this.update(reg.name, (current) => ({
      name: reg.name,
      labels: { ...reg.labels },
      availability: current?.availability ?? 'active',
      state: 'unknown',
      address: reg.address,
      capacity: { ...reg.capacity },
      drivers: [...reg.drivers],
      resourceVersion: '',
    }));
  }

  async setAvailability(name: string, availability: NodeAvailability): Promise<NodeInfo> {
    return this.update(name, (current) => {
      if (!current) throw new NotFoundError('node', name);
      return { ...current, availability };
    });
  }

  /** Read-modify-write of nodes/<name>, compared on its mod_revision; its events in the same transaction. */
  private async update(name: string, change: (current: NodeInfo | undefined) => NodeInfo): Promise<NodeInfo> {
    const key = this.keys.node(name);
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      const kv: IKeyValue | undefined = await getKey(this.client, key);
      const current = kv && nodeCodec.decode(kv);
      const next = change(current);
      const res = await txn(this.client, `write node ${name}`, {
        compare: [kv ? ifModRevision(key, kv.mod_revision) : ifAbsent(key)],
        success: [putOp(key, encodeNode(next)), ...eventOps(this.keys, nodeEvents(current, next))],
      });
      if (res.succeeded) {
        const written = await this.get(name);
        return written ?? { ...next, resourceVersion: res.header.revision };
      }
    }
    throw new ConflictError(`node "${name}" kept changing while writing it; try again`);
  }

  async openSession(name: string, ttlSeconds: number): Promise<NodeSessionLease> {
    let bound = await this.bind(name, ttlSeconds);
    return {
      keepAlive: async () => {
        const res = await etcdCall(this.client, `renew the lease of node ${name}`, () => bound.lease.keepaliveOnce());
        // TTL ≤ 0: the lease expired (etcd was away longer than the TTL); the session lives on,
        // so bind the node to a fresh lease instead of letting it look down while connected.
        if (Number(res.TTL) <= 0) {
          bound.lease.release();
          bound = await this.bind(name, ttlSeconds);
          return;
        }
        await this.reclaim(name, bound.id);
      },
      close: () => bound.lease.release(),
    };
  }

  /**
   * Puts the alive key back on this session's lease when another lease holds it: a stale session
   * (one that finished its Hello after the agent had reconnected) may have bound it last, and
   * its lease, no longer renewed, would take the node down while its live session goes on.
   */
  private async reclaim(name: string, leaseId: string): Promise<void> {
    const key = this.keys.alive(name);
    await txn(this.client, `keep node ${name} alive`, {
      compare: [{ key: Buffer.from(key), target: 'Lease', result: 'NotEqual', lease: leaseId }],
      success: [putOp(key, name, leaseId)],
    });
  }

  private async bind(name: string, ttlSeconds: number): Promise<{ lease: Lease; id: string }> {
    const lease = this.client.lease(ttlSeconds, { autoKeepAlive: false });
    const id = await etcdCall(this.client, `grant a lease for node ${name}`, () => lease.grant());
    // `Ready` when the node was not alive: a reconnect within the lease's TTL is no event.
    const alive = putOp(this.keys.alive(name), name, id);
    const ready: NewEvent = { kind: 'node', object: name, node: name, reason: 'Ready', message: 'ready: its agent connected' };
    await txn(this.client, `mark node ${name} alive`, {
      compare: [ifAbsent(this.keys.alive(name))],
      success: [alive, ...eventOps(this.keys, [ready])],
      failure: [alive],
    });
    return { lease, id };
  }
}

/** What an operator's or agent's write of a node record means, as events. */
function nodeEvents(before: NodeInfo | undefined, after: NodeInfo): NewEvent[] {
  const about = { kind: 'node', object: after.name, node: after.name } as const;
  if (!before) return [{ ...about, reason: 'Registered', message: `registered (${after.address}; drivers ${after.drivers.join(', ') || 'none'})` }];
  if (before.availability === after.availability) return [];
  switch (after.availability) {
    case 'drain':
      return [{ ...about, reason: 'Drained', message: 'drained: its tasks move to other nodes' }];
    case 'pause':
      return [{ ...about, reason: 'Paused', message: 'paused: no new tasks are placed on it' }];
    case 'active':
      return [{ ...about, reason: 'Activated', message: 'activated: it takes new tasks again' }];
  }
}

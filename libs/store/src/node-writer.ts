import { ConflictError, NotFoundError, type NodeAvailability, type NodeInfo } from '@berth/core';
import type { Etcd3, IKeyValue, Lease } from 'etcd3';
import { nodeCodec, nodeLivenessCodec } from './codecs';
import { etcdCall } from './etcd-client';
import { nameOf, prefixEnd, type Keyspace } from './keys';
import { eventOps } from './event-log';
import { revokeNodeCertificatesOp } from './identity-store';
import { deleteOp, getKey, ifAbsent, ifModRevision, putOp, txn } from './kv';
import {
  decodeNodeRecord,
  encodeNodeRecord,
  nodeEvents,
  nodeInfoOf,
  readyEvent,
  readyNodeConflict,
  registeredNode,
  relabeled,
  removedEvent,
  withAvailability,
  withLiveness,
  type NodeRecord,
} from './node-records';
import type { NodeLabelChange, NodeRegistration, NodeSessionLease } from './store';

const MAX_ATTEMPTS = 5;

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
    return this.update(reg.name, (current) => registeredNode(current, reg));
  }

  async setAvailability(name: string, availability: NodeAvailability): Promise<NodeInfo> {
    return this.update(name, (current) => withAvailability(current, name, availability));
  }

  async setLabels(name: string, change: NodeLabelChange): Promise<NodeInfo> {
    return this.update(name, (current) => relabeled(current, name, change));
  }

  /** Read-modify-write of nodes/<name>, compared on its mod_revision; its events in the same transaction. */
  private async update(name: string, change: (current: NodeRecord | undefined) => NodeRecord): Promise<NodeInfo> {
    const key = this.keys.node(name);
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      const kv: IKeyValue | undefined = await getKey(this.client, key);
      const current = kv && decodeNodeRecord(kv.value.toString());
      const next = change(current);
      const res = await txn(this.client, `write node ${name}`, {
        compare: [kv ? ifModRevision(key, kv.mod_revision) : ifAbsent(key)],
        success: [putOp(key, encodeNodeRecord(next)), ...eventOps(this.keys, nodeEvents(current, next))],
      });
      if (res.succeeded) {
        const written = await this.get(name);
        // Removed right after this write: the node as written, not ready.
        return written ?? nodeInfoOf(next, res.header.revision);
      }
    }
    throw new ConflictError(`node "${name}" kept changing while writing it; try again`);
  }

  /**
   * Deletes nodes/<name>, status/nodes/<name> and alive/<name> with the `Removed` event, in one
   * transaction compared on what was read: the node's record, and its alive key (absent unless
   * `force`), so a session that binds it meanwhile is not cut off unseen.
   */
  async remove(name: string, opts: { force?: boolean }): Promise<void> {
    const [node, alive] = [this.keys.node(name), this.keys.alive(name)];
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      const read = await txn(this.client, `read node ${name}`, { compare: [], success: [rangeOf(node), rangeOf(alive)] });
      const [kv, aliveKv] = read.responses.map((r) => r.response_range.kvs[0]);
      if (!kv) throw new NotFoundError('node', name);
      if (aliveKv && !opts.force) throw readyNodeConflict(name);
      const res = await txn(this.client, `remove node ${name}`, {
        compare: [ifModRevision(node, kv.mod_revision), aliveKv ? ifModRevision(alive, aliveKv.mod_revision) : ifAbsent(alive)],
        success: [deleteOp(node), deleteOp(this.keys.nodeStatus(name)), deleteOp(alive), revokeNodeCertificatesOp(this.keys, name), ...eventOps(this.keys, [removedEvent(name, aliveKv !== undefined)])],
      });
      if (res.succeeded) return;
    }
    throw new ConflictError(`node "${name}" kept changing while removing it; try again`);
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
    // Nearly always the key is this session's: a read answers that without a write (a
    // transaction with a put goes through etcd's log and disk even when its compare fails).
    if ((await getKey(this.client, key))?.lease === leaseId) return;
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
    await txn(this.client, `mark node ${name} alive`, {
      compare: [ifAbsent(this.keys.alive(name))],
      success: [alive, ...eventOps(this.keys, [readyEvent(name)])],
      failure: [alive],
    });
    return { lease, id };
  }
}

function rangeOf(key: string) {
  return { request_range: { key: Buffer.from(key) } };
}

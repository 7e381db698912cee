import { ConflictError, NotFoundError, type NodeAvailability, type NodeInfo } from '@berth/core';
import type { Etcd3, IKeyValue, Lease } from 'etcd3';
import { encodeVersioned, nodeCodec } from './codecs';
import { etcdCall } from './etcd-client';
import { nameOf, prefixEnd, type Keyspace } from './keys';
import { getKey, ifAbsent, ifModRevision, putOp, txn } from './kv';
import type { NodeRegistration, NodeSessionLease } from './store';

const MAX_ATTEMPTS = 5;

/** The stored node plus whether its alive key exists: ready while it does, down when not. */
export function withLiveness(node: NodeInfo, alive: boolean): NodeInfo {
  return { ...node, state: alive ? 'ready' : 'down' };
}

/** What nodes/<name> holds: the node without `state`, which is never stored (it is the alive key). */
function encodeNode(node: NodeInfo): string {
  const { state: _derived, ...rest } = node;
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

  /** Every node with its derived state, from one consistent read of nodes/ and alive/. */
  async list(): Promise<NodeInfo[]> {
    const alivePrefix = this.keys.alive('');
    const res = await txn(this.client, 'list nodes', {
      compare: [],
      success: [
        { request_range: { key: Buffer.from(this.keys.nodes), range_end: prefixEnd(this.keys.nodes) } },
        { request_range: { key: Buffer.from(alivePrefix), range_end: prefixEnd(alivePrefix), keys_only: true } },
      ],
    });
    const alive = new Set((res.responses[1]?.response_range.kvs ?? []).map((kv) => nameOf(kv.key.toString())));
    return (res.responses[0]?.response_range.kvs ?? []).map((kv) => {
      const node = nodeCodec.decode(kv);
      return withLiveness(node, alive.has(node.name));
    });
  }

  async get(name: string): Promise<NodeInfo | undefined> {
    const [kv, alive] = await Promise.all([getKey(this.client, this.keys.node(name)), getKey(this.client, this.keys.alive(name))]);
    return kv && withLiveness(nodeCodec.decode(kv), alive !== undefined);
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

  /** Read-modify-write of nodes/<name>, compared on its mod_revision. */
  private async update(name: string, change: (current: NodeInfo | undefined) => NodeInfo): Promise<NodeInfo> {
    const key = this.keys.node(name);
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      const kv: IKeyValue | undefined = await getKey(this.client, key);
      const next = change(kv && nodeCodec.decode(kv));
      const res = await txn(this.client, `write node ${name}`, {
        compare: [kv ? ifModRevision(key, kv.mod_revision) : ifAbsent(key)],
        success: [putOp(key, encodeNode(next))],
      });
      if (res.succeeded) {
        const alive = await getKey(this.client, this.keys.alive(name));
        return withLiveness({ ...next, resourceVersion: res.header.revision }, alive !== undefined);
      }
    }
    throw new ConflictError(`node "${name}" kept changing while writing it; try again`);
  }

  async openSession(name: string, ttlSeconds: number): Promise<NodeSessionLease> {
    let lease = await this.bind(name, ttlSeconds);
    return {
      keepAlive: async () => {
        const res = await etcdCall(this.client, `renew the lease of node ${name}`, () => lease.keepaliveOnce());
        // TTL ≤ 0: the lease expired (etcd was away longer than the TTL); the session lives on,
        // so bind the node to a fresh lease instead of letting it look down while connected.
        if (Number(res.TTL) <= 0) {
          lease.release();
          lease = await this.bind(name, ttlSeconds);
        }
      },
      close: () => lease.release(),
    };
  }

  private async bind(name: string, ttlSeconds: number): Promise<Lease> {
    const lease = this.client.lease(ttlSeconds, { autoKeepAlive: false });
    const id = await etcdCall(this.client, `grant a lease for node ${name}`, () => lease.grant());
    await txn(this.client, `mark node ${name} alive`, { compare: [], success: [putOp(this.keys.alive(name), name, id)] });
    return lease;
  }
}

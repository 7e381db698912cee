import type { Etcd3 } from 'etcd3';
import { AlreadyExistsError, ConflictError, type NewEvent, type TokenRole } from '@berth/core';
import { eventOps } from './event-log';
import { etcdCall } from './etcd-client';
import type { Keyspace } from './keys';
import { deleteOp, getKey, ifAbsent, ifModRevision, putOp, rangePrefix, txn } from './kv';

/** A token as stored: never its secret, only the secret's hash. */
export interface StoredToken {
  readonly id: string;
  readonly role: TokenRole;
  readonly secretHash: string;
  readonly createdAt: string;
  /** Absent: valid until revoked. Expired tokens are removed by etcd (their key is on a lease). */
  readonly expiresAt?: string;
  readonly description?: string;
}

/** A certificate issued to a node, by serial number (upper-case hex, as node:crypto prints it). */
export interface IssuedCertificate {
  readonly serial: string;
  readonly expiresAt: string;
}

/** The certificates a node holds: its sessions need one of them; removing the node revokes them all. */
export interface NodeCertificateRecord {
  readonly node: string;
  readonly certificates: readonly IssuedCertificate[];
}

/** The cluster's identity data in etcd: CA certificate, tokens, node certificates. */
export interface ClusterIdentityStore {
  caCertificate(): Promise<string | undefined>;
  /** Stores `pem` as the cluster CA unless one is stored already; returns the one stored. */
  storeCaCertificate(pem: string): Promise<string>;
  /** Stores a new token; with `ttlSeconds` etcd removes it once that has passed. */
  createToken(token: StoredToken, ttlSeconds?: number): Promise<void>;
  getToken(id: string): Promise<StoredToken | undefined>;
  listTokens(): Promise<StoredToken[]>;
  /** Removes a token; returns what it was (undefined when there was none). */
  deleteToken(id: string): Promise<StoredToken | undefined>;
  nodeCertificates(node: string): Promise<NodeCertificateRecord | undefined>;
  /**
   * Records a certificate issued to `node`, dropping the node's expired ones. With `join`, a
   * node that is registered and holds certificates is refused (AlreadyExistsError): a join token
   * admits new nodes, it does not take over existing ones.
   */
  addNodeCertificate(node: string, certificate: IssuedCertificate, opts: { readonly join: boolean; readonly now?: Date }): Promise<void>;
  /** Appends events that are no store change of their own (audit entries of API requests). */
  recordEvents(events: readonly NewEvent[]): Promise<void>;
}

const MAX_ATTEMPTS = 5;

export class EtcdIdentityStore implements ClusterIdentityStore {
  constructor(
    private readonly client: Etcd3,
    private readonly keys: Keyspace,
  ) {}

  async caCertificate(): Promise<string | undefined> {
    return (await getKey(this.client, this.keys.caCertificate))?.value.toString();
  }

  async storeCaCertificate(pem: string): Promise<string> {
    const key = this.keys.caCertificate;
    const res = await txn(this.client, 'store the cluster CA certificate', {
      compare: [ifAbsent(key)],
      success: [putOp(key, pem)],
      failure: [{ request_range: { key: Buffer.from(key) } }],
    });
    return res.succeeded ? pem : res.responses[0]!.response_range.kvs[0]!.value.toString();
  }

  async createToken(token: StoredToken, ttlSeconds?: number): Promise<void> {
    const key = this.keys.token(token.id);
    let leaseId: string | undefined;
    if (ttlSeconds !== undefined) {
      const lease = this.client.lease(ttlSeconds, { autoKeepAlive: false });
      leaseId = await etcdCall(this.client, `grant a ${ttlSeconds}s lease for token ${token.id}`, () => lease.grant());
    }
    const res = await txn(this.client, `create token ${token.id}`, { compare: [ifAbsent(key)], success: [putOp(key, JSON.stringify(token), leaseId)] });
    if (!res.succeeded) throw new AlreadyExistsError('token', token.id);
  }

  async getToken(id: string): Promise<StoredToken | undefined> {
    const kv = await getKey(this.client, this.keys.token(id));
    return kv ? (JSON.parse(kv.value.toString()) as StoredToken) : undefined;
  }

  async listTokens(): Promise<StoredToken[]> {
    const { kvs } = await rangePrefix(this.client, this.keys.tokens);
    return kvs.map((kv) => JSON.parse(kv.value.toString()) as StoredToken).sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id));
  }

  async deleteToken(id: string): Promise<StoredToken | undefined> {
    const key = this.keys.token(id);
    const res = await etcdCall(this.client, `revoke token ${id}`, () => this.client.kv.deleteRange({ key: Buffer.from(key), prev_kv: true }));
    const prev = res.prev_kvs[0];
    return prev ? (JSON.parse(prev.value.toString()) as StoredToken) : undefined;
  }

  async nodeCertificates(node: string): Promise<NodeCertificateRecord | undefined> {
    const kv = await getKey(this.client, this.keys.nodeCertificates(node));
    return kv ? (JSON.parse(kv.value.toString()) as NodeCertificateRecord) : undefined;
  }

  async addNodeCertificate(node: string, certificate: IssuedCertificate, opts: { readonly join: boolean; readonly now?: Date }): Promise<void> {
    const [certsKey, nodeKey] = [this.keys.nodeCertificates(node), this.keys.node(node)];
    const now = (opts.now ?? new Date()).toISOString();
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      const read = await txn(this.client, `read the certificates of node ${node}`, {
        compare: [],
        success: [{ request_range: { key: Buffer.from(certsKey) } }, { request_range: { key: Buffer.from(nodeKey) } }],
      });
      const [certsKv, nodeKv] = read.responses.map((r) => r.response_range.kvs[0]);
      const held = certsKv ? (JSON.parse(certsKv.value.toString()) as NodeCertificateRecord).certificates.filter((c) => c.expiresAt > now) : [];
      if (opts.join && nodeKv && held.length > 0) throw new AlreadyExistsError('node', node);
      const record: NodeCertificateRecord = { node, certificates: [...held, certificate] };
      const res = await txn(this.client, `record a certificate of node ${node}`, {
        compare: [certsKv ? ifModRevision(certsKey, certsKv.mod_revision) : ifAbsent(certsKey), nodeKv ? ifModRevision(nodeKey, nodeKv.mod_revision) : ifAbsent(nodeKey)],
        success: [putOp(certsKey, JSON.stringify(record))],
      });
      if (res.succeeded) return;
    }
    throw new ConflictError(`the certificates of node "${node}" kept changing while recording a new one; try again`);
  }

  async recordEvents(events: readonly NewEvent[]): Promise<void> {
    if (events.length > 0) await txn(this.client, `record ${events.length} event(s)`, { compare: [], success: eventOps(this.keys, events) });
  }
}

/** The operation that revokes every certificate of a node (part of removing it). */
export function revokeNodeCertificatesOp(keys: Keyspace, node: string) {
  return deleteOp(keys.nodeCertificates(node));
}

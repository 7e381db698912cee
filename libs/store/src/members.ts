import { setTimeout as sleep } from 'node:timers/promises';
import type { Etcd3 } from 'etcd3';
import type { Keyspace } from './keys';
import { putOp, rangePrefix, txn } from './kv';

/** A running control-plane replica, as it announces itself under `members/<id>`. */
export interface ControlPlaneMember {
  readonly id: string;
  /** Where its HTTP API (and `/metrics`) answers. */
  readonly apiUrl: string;
  readonly version: string;
}

/** Pause before announcing again after the lease was lost or etcd could not be reached. */
const RETRY_MS = 1_000;

/**
 * The replicas of the control plane: each puts `members/<id>` on a lease of its own, renewed for
 * as long as it runs, so the list is who is up now (a replica that died drops out within the
 * TTL). Read by service discovery (`GET /sd`); nothing else depends on it.
 */
export class ControlPlaneMembers {
  constructor(
    private readonly client: Etcd3,
    private readonly keys: Keyspace,
  ) {}

  /** Announces `member` until `signal` aborts, announcing again whenever its lease is lost; then withdraws it. */
  async announce(member: ControlPlaneMember, ttlSeconds: number, signal: AbortSignal): Promise<void> {
    const aborted = new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
    while (!signal.aborted) {
      const lease = this.client.lease(ttlSeconds);
      const lost = new Promise<void>((resolve) => lease.on('lost', () => resolve()));
      try {
        const id = await lease.grant();
        await txn(this.client, `announce control plane ${member.id}`, { compare: [], success: [putOp(this.keys.member(member.id), JSON.stringify(member), id)] });
        await Promise.race([lost, aborted]);
      } catch {
        // etcd away: announced again once it answers.
      } finally {
        // Revoking deletes the key at once: a replica that stops is not listed for a TTL longer.
        await lease.revoke().catch(() => undefined);
      }
      await sleep(RETRY_MS, undefined, { signal }).catch(() => undefined);
    }
  }

  /** Every replica announced now, by id. */
  async list(): Promise<ControlPlaneMember[]> {
    const { kvs } = await rangePrefix(this.client, this.keys.members);
    return kvs.map((kv) => JSON.parse(kv.value.toString()) as ControlPlaneMember).sort((a, b) => a.id.localeCompare(b.id));
  }
}

import { NotLeaderError } from '@berth/core';
import { createEtcdClient, EtcdStore, LeaderElection, type Etcd3, type Leadership } from '@berth/store';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { requireTools } from '../../support/prereq';
import { startSingle, type EtcdMember } from './etcd-containers';
import { TcpProxy } from './tcp-proxy';

const ready = requireTools(['docker', 'etcd'], { root: true });

interface Term {
  readonly lead: Leadership;
  readonly startedAt: number;
  endedAt?: number;
}

/** Runs a candidate and records its terms; each term lasts until its leadership signal aborts. */
function candidate(client: Etcd3, id: string, prefix: string, stop: AbortSignal) {
  const terms: Term[] = [];
  const election = new LeaderElection(client, { id, ttlSeconds: 2, prefix });
  const done = election.runAsLeader(stop, async (lead) => {
    const term: Term = { lead, startedAt: Date.now() };
    terms.push(term);
    await new Promise((r) => lead.signal.addEventListener('abort', r));
    term.endedAt = Date.now();
  });
  return { terms, election, done, leading: () => terms.some((t) => t.endedAt === undefined) };
}

const status = { desired: 1, running: 1, updated: 1, observedGeneration: 1, updatedAt: '2026-01-01T00:00:00Z' };

describe.runIf(ready)('leader election', () => {
  let etcd: EtcdMember | undefined;
  let proxy: TcpProxy | undefined;
  let c1: Etcd3;
  let c2: Etcd3;

  beforeAll(async () => {
    etcd = await startSingle();
    const url = new URL(etcd.endpoint);
    proxy = await TcpProxy.start({ host: url.hostname, port: Number(url.port) });
    c1 = createEtcdClient({ endpoints: [etcd.endpoint] });
    c2 = createEtcdClient({ endpoints: [etcd.endpoint] });
  });
  afterAll(async () => {
    c1?.close();
    c2?.close();
    await proxy?.close();
    await etcd?.container.stop({ timeout: 1 });
  });

  it('elects one of two candidates; a deposed leader is told and its fenced writes are refused', async () => {
    const prefix = '/elect/';
    const stop = new AbortController();
    const a = candidate(c1, 'a', prefix, stop.signal);
    const b = candidate(c2, 'b', prefix, stop.signal);
    try {
      await vi.waitFor(() => expect(a.leading() || b.leading()).toBe(true), { timeout: 15_000 });
      expect(a.leading() && b.leading()).toBe(false);
      const [leader, other] = a.leading() ? [a, b] : [b, a];
      const first = leader.terms[0]!.lead;
      expect(await a.election.currentLeader()).toBe(first.id);

      // Take the leader's lease away behind its back, as an expiry during a pause would.
      const key = await c1.kv.range({ key: Buffer.from(first.fence.leaderKey) });
      await c1.leaseClient.leaseRevoke({ ID: key.kvs[0]!.lease });

      await vi.waitFor(() => expect(other.leading()).toBe(true), { timeout: 15_000 });
      const second = other.terms[0]!.lead;
      expect(second.fence.createRevision).not.toBe(first.fence.createRevision);
      expect(await a.election.currentLeader()).toBe(second.id);
      await vi.waitFor(() => expect(first.signal.aborted).toBe(true), { timeout: 15_000 });

      const store = new EtcdStore(c1, { prefix });
      await expect(store.putServiceStatuses(new Map([['web', status]]), first.fence)).rejects.toBeInstanceOf(NotLeaderError);
      expect(await store.getServiceStatus('web')).toBeUndefined();
      await store.putServiceStatuses(new Map([['web', status]]), second.fence);
      expect(await store.getServiceStatus('web')).toEqual(status);
    } finally {
      stop.abort();
      await Promise.all([a.done, b.done]);
    }
    expect(await a.election.currentLeader()).toBeUndefined(); // resigned on shutdown
  });

  it('a leader cut off from etcd steps down before anyone else takes over', async () => {
    const prefix = '/cutoff/';
    const viaProxy = createEtcdClient({ endpoints: [proxy!.endpoint] });
    const stop = new AbortController();
    const a = candidate(viaProxy, 'a', prefix, stop.signal);
    let b: ReturnType<typeof candidate> | undefined;
    try {
      await vi.waitFor(() => expect(a.leading()).toBe(true), { timeout: 15_000 });
      b = candidate(c2, 'b', prefix, stop.signal);
      proxy!.cut();
      await vi.waitFor(() => expect(b!.leading()).toBe(true), { timeout: 30_000 });
      const lost = a.terms[0]!;
      expect(lost.endedAt).toBeDefined();
      expect(lost.endedAt!).toBeLessThanOrEqual(b.terms[0]!.startedAt);
    } finally {
      proxy!.restore();
      stop.abort();
      await Promise.all([a.done, b?.done]);
      viaProxy.close();
    }
  });
});

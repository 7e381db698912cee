import { createEtcdClient, EtcdStore, type Etcd3 } from '@berth/store';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { requireTools } from '../../support/prereq';
import { startCluster, type EtcdCluster, type EtcdMember } from './etcd-containers';
import { draft } from './fixtures';

const ready = requireTools(['docker', 'etcd'], { root: true });

/** The member that currently leads the raft group (asked of each member directly). */
async function raftLeader(members: readonly EtcdMember[]): Promise<EtcdMember> {
  for (const m of members) {
    const c = createEtcdClient({ endpoints: [m.endpoint] });
    try {
      const status = await c.maintenance.status({});
      if (status.leader === status.header.member_id) return m;
    } catch {
      // a member that does not answer is not the leader we are looking for
    } finally {
      c.close();
    }
  }
  throw new Error('no member reports itself as raft leader');
}

describe.runIf(ready)('EtcdStore on a 3-member cluster', () => {
  let cluster: EtcdCluster | undefined;
  let client: Etcd3;

  beforeAll(async () => {
    cluster = await startCluster();
    client = createEtcdClient({ endpoints: cluster.endpoints });
  });
  afterAll(async () => {
    client?.close();
    await cluster?.stop();
  });

  it('keeps every acknowledged write and delivers every revision in order while the raft leader (then each other member) is killed and restarted', async () => {
    const store = new EtcdStore(client, { prefix: '/chaos/' });
    const informer = store.serviceInformer();
    const seen: bigint[] = [];
    informer.subscribe((e) => seen.push(BigInt(e.revision)));
    const stop = new AbortController();
    const running = informer.run(stop.signal);
    const acked = new Map<string, bigint>();
    let failed = 0;
    let next = 0;
    const writeUntil = async (count: number) => {
      const target = acked.size + count;
      while (acked.size < target) {
        const name = `s${String(next++).padStart(4, '0')}`;
        try {
          const [o] = await store.applyServices([draft(name)]);
          acked.set(name, BigInt(o!.service.meta.resourceVersion));
        } catch {
          failed++; // not acknowledged: may or may not be stored, the test makes no claim about it
        }
      }
    };
    try {
      await informer.synced();
      await writeUntil(30);
      // The raft leader first, then the others one at a time (quorum stays): whichever member
      // serves the informer's watch stream is killed at some point.
      const leader = await raftLeader(cluster!.members);
      for (const victim of [leader, ...cluster!.members.filter((m) => m !== leader)]) {
        victim.kill();
        await writeUntil(30);
        await victim.restart();
        await writeUntil(10);
      }

      const stored = new Map((await store.listServices()).map((s) => [s.meta.name, BigInt(s.meta.resourceVersion)]));
      for (const [name, rev] of acked) expect(stored.get(name), name).toBe(rev);

      const last = [...acked.values()].reduce((a, b) => (a > b ? a : b));
      await vi.waitFor(() => expect(seen.at(-1)! >= last).toBe(true), { timeout: 30_000 });
      for (let i = 1; i < seen.length; i++) expect(seen[i]!, `event ${i}`).toBe(seen[i - 1]! + 1n); // increasing, no gap
      const seenSet = new Set(seen);
      for (const [name, rev] of acked) expect(seenSet.has(rev), `${name}@${rev}`).toBe(true);
      console.info(`cluster test: ${acked.size} writes acknowledged, ${failed} failed during the fault, ${seen.length} events seen`);
    } finally {
      stop.abort();
      await running;
    }
  });
});

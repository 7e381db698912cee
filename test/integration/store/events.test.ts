import { compareEventIds, EVENT_LOG_MAX_COUNT, type ClusterEvent } from '@berth/core';
import { createEtcdClient, EtcdStore, type Etcd3, type LeaderFence } from '@berth/store';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireTools } from '../../support/prereq';
import { startSingle, type EtcdMember } from './etcd-containers';
import { draft, spec } from './fixtures';

const ready = requireTools(['docker', 'etcd'], { root: true });

describe.runIf(ready)('the event log on etcd', () => {
  let etcd: EtcdMember | undefined;
  let client: Etcd3;
  let n = 0;

  /** A store under its own prefix, and a leader fence on a key of that prefix. */
  const fresh = async (): Promise<{ store: EtcdStore; fence: LeaderFence; prefix: string }> => {
    const prefix = `/ev${++n}/`;
    const leaderKey = `${prefix}leader`;
    await client.put(leaderKey).value('test');
    const kv = (await client.get(leaderKey).exec()).kvs[0]!;
    return { store: new EtcdStore(client, { prefix }), fence: { leaderKey, createRevision: kv.create_revision }, prefix };
  };
  const summary = (events: readonly ClusterEvent[]) => events.map((e) => `${e.kind}/${e.object} ${e.reason}`);

  beforeAll(async () => {
    etcd = await startSingle();
    client = createEtcdClient({ endpoints: [etcd.endpoint] });
  });
  afterAll(async () => {
    client?.close();
    await etcd?.container.stop({ timeout: 1 });
  });

  it('records each change in the transaction that makes it, in commit order', async () => {
    const { store, fence } = await fresh();
    const [created] = await store.applyServices([draft('web', { replicas: 2 })]);
    await store.applyServices([draft('web', { replicas: 2 })]); // unchanged: no event
    const scaled = await store.scaleService('web', 3);
    await store.registerNode({ name: 'n1', address: '10.0.0.1', labels: {}, capacity: { cpuMillis: 1000, memoryBytes: 1 << 30 }, drivers: ['runc'] });
    const session = await store.openNodeSession('n1', 5);
    const plan = await store.applyTaskPlan('web', { create: [{ slot: 1, specGeneration: 1, template: spec().template }], shutdown: [], remove: [] }, fence);
    const id = plan.written[0]!;
    await store.assignNodes([{ taskId: id, node: 'n1' }], fence);
    const at = new Date().toISOString();
    await store.updateTaskStatuses('n1', [{ taskId: id, status: { state: 'running', ip: '10.88.0.2', updatedAt: at } }]);
    await store.updateTaskStatuses('n1', [{ taskId: id, status: { state: 'failed', exitCode: 3, message: 'exited with code 3', updatedAt: at } }]);
    await store.setNodeAvailability('n1', 'drain');
    await store.writeNodeLiveness(new Map([['n1', at]]), fence, [{ kind: 'node', object: 'n1', node: 'n1', reason: 'Down', message: 'down' }]);
    await store.deleteService('web');
    session.close();

    const events = await store.listEvents();
    expect(summary(events)).toEqual([
      'service/web Created',
      'service/web Scaled',
      'node/n1 Registered',
      'node/n1 Ready',
      `task/${id} Scheduled`,
      `task/${id} Started`,
      `task/${id} Failed`,
      'node/n1 Drained',
      'node/n1 Down',
      'service/web Deleted',
    ]);
    // Same transaction: an event's revision is the revision of the write it reports.
    expect(events[0]!.id).toBe(`${created!.service.meta.resourceVersion}.0`);
    expect(events[1]!.id).toBe(`${scaled.meta.resourceVersion}.0`);
    expect(events.find((e) => e.reason === 'Failed')).toMatchObject({ service: 'web', node: 'n1', message: 'failed: exited with code 3' });
    expect(events.find((e) => e.reason === 'Scaled')!.message).toBe('scaled from 2 to 3 replica(s) (berth scale)');
    // A fenced write by a lost term writes neither its change nor its events.
    await expect(store.writeNodeLiveness(new Map([['n1', undefined]]), { ...fence, createRevision: '1' }, [{ kind: 'node', object: 'n1', node: 'n1', reason: 'Down', message: 'stale' }])).rejects.toThrow(/leader/i);
    expect((await store.listEvents()).length).toBe(events.length);
  });

  it('resumes a watch after its last event id: nothing lost, nothing repeated, across compaction', async () => {
    const { store } = await fresh();
    await store.applyServices([draft('a')]);
    const writer = (async () => {
      for (let i = 2; i <= 60; i++) await store.scaleService('a', i);
    })();
    const seen: ClusterEvent[] = [];
    let after: string | undefined;
    // Three watches in a row, each cut off after a few events, the next one resuming after the last.
    for (let round = 0; round < 3; round++) {
      const stop = new AbortController();
      for await (const e of store.watchEvents(after, stop.signal)) {
        seen.push(e);
        after = e.id;
        if (seen.length >= (round + 1) * 15) break;
      }
      stop.abort();
      if (round === 1) {
        // etcd forgets the history a watch would start from; the log itself is keys, not history.
        const { header } = await client.kv.range({ key: Buffer.from('x') });
        await client.kv.compact({ revision: header.revision, physical: true });
      }
    }
    await writer;
    const stop = new AbortController();
    for await (const e of store.watchEvents(after, stop.signal)) {
      seen.push(e);
      if (e.message.includes('to 60')) break;
    }
    stop.abort();
    const all = await store.listEvents();
    expect(seen.map((e) => e.id)).toEqual(all.map((e) => e.id));
    expect(new Set(seen.map((e) => e.id)).size).toBe(seen.length);
    expect([...seen].sort((x, y) => compareEventIds(x.id, y.id))).toEqual(seen);
    expect(seen.at(-1)!.message).toBe('scaled from 59 to 60 replica(s) (berth scale)');
  });

  it(`stays within ${EVENT_LOG_MAX_COUNT} events under 5,000 scale changes, keeping the newest`, async () => {
    const { store, fence, prefix } = await fresh();
    const names = ['s0', 's1', 's2', 's3', 's4', 's5', 's6', 's7'];
    await store.applyServices(names.map((s) => draft(s)));
    let done = false;
    let trimmed = 0;
    const janitor = (async () => {
      while (!done) {
        trimmed += await store.trimEvents(fence);
        await new Promise((r) => setTimeout(r, 250));
      }
    })();
    const seenCounts: number[] = [];
    const reader = (async () => {
      while (!done) {
        seenCounts.push((await store.listEvents()).length);
        await new Promise((r) => setTimeout(r, 200));
      }
    })();
    // 8 writers × 625 changes, each a scale between 1 and 2 replicas.
    await Promise.all(names.map(async (s) => {
      for (let i = 0; i < 625; i++) await store.scaleService(s, i % 2 === 0 ? 2 : 1);
    }));
    done = true;
    await Promise.all([janitor, reader]);
    trimmed += await store.trimEvents(fence);

    const stored = await client.getAll().prefix(`${prefix}events/`).keys();
    expect(stored.length).toBe(EVENT_LOG_MAX_COUNT);
    expect(trimmed).toBe(8 + 5000 - EVENT_LOG_MAX_COUNT);
    expect(Math.max(...seenCounts)).toBeLessThanOrEqual(EVENT_LOG_MAX_COUNT);
    const events = await store.listEvents();
    expect(events).toHaveLength(EVENT_LOG_MAX_COUNT);
    // The newest are kept: each service's last change is there.
    for (const s of names) expect(events.filter((e) => e.object === s).at(-1)!.message).toBe('scaled from 1 to 2 replica(s) (berth scale)');
  });

  it('drops events older than an hour', async () => {
    const { store, fence } = await fresh();
    await store.applyServices([draft('old')]);
    expect(await store.trimEvents(fence)).toBe(0);
    expect(await store.trimEvents(fence, new Date(Date.now() + 61 * 60_000))).toBe(1);
    expect(await store.listEvents()).toEqual([]);
  });
});

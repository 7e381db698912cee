import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { NotFoundError, NotLeaderError, type NodeInfo, type TaskTemplate } from '@berth/core';
import { createEtcdClient, EtcdStore, type Etcd3, type LeaderFence } from '@berth/store';
import { requireTools } from '../../support/prereq';
import { startPlainEtcd, type PlainEtcd } from './plain-etcd';

const ready = requireTools(['etcd']);

const TEMPLATE: TaskTemplate = { runtime: 'container', image: 'oci:/x:1', env: {}, resources: {}, ports: [], volumes: [], stopGracePeriodMs: 1000 };
const NODE = { address: '10.0.0.1', labels: { zone: 'a' }, capacity: { cpuMillis: 1000, memoryBytes: 1 << 30 }, drivers: ['runc'], runtimes: ['container' as const] };

describe.runIf(ready)('task and node writes on etcd with default transaction limits', () => {
  let dir = '';
  let etcd: PlainEtcd | undefined;
  let client: Etcd3 | undefined;
  let store: EtcdStore;
  let fence: LeaderFence;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-writes-'));
    etcd = await startPlainEtcd(dir);
    client = createEtcdClient({ endpoints: [etcd.endpoint] });
    store = new EtcdStore(client);
    const res = await client.put('/berth/v1/leader').value('test').exec();
    fence = { leaderKey: '/berth/v1/leader', createRevision: res.header.revision };
  });

  afterAll(async () => {
    client?.close();
    await etcd?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('creates 300 tasks in fenced batches, shuts some down and removes others', async () => {
    const create = Array.from({ length: 300 }, (_, i) => ({ slot: i + 1, specGeneration: 1, template: TEMPLATE }));
    const res = await store.applyTaskPlan('big', { create, shutdown: [], remove: [] }, fence);
    expect(res.written).toHaveLength(300);
    const tasks = await store.listTasks('big');
    expect(tasks).toHaveLength(300);
    expect(tasks.every((t) => /^big\.\d+\.[0-9a-z]{10}$/.test(t.id) && t.status.state === 'pending' && t.desiredState === 'running')).toBe(true);
    expect(tasks[0]?.template).toEqual(TEMPLATE);

    const ids = tasks.map((t) => t.id);
    await store.applyTaskPlan('big', { create: [], shutdown: ids.slice(0, 200), remove: ids.slice(200) }, fence);
    const after = await store.listTasks('big');
    expect(after).toHaveLength(200);
    expect(after.every((t) => t.desiredState === 'shutdown')).toBe(true);
  });

  it('refuses leader writes with a stale fence', async () => {
    const stale = { ...fence, createRevision: '1' };
    const err = await store.applyTaskPlan('x', { create: [{ slot: 1, specGeneration: 1, template: TEMPLATE }], shutdown: [], remove: [] }, stale).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NotLeaderError);
    expect(await store.listTasks('x')).toEqual([]);
  });

  it('assigns only tasks that are still pending and unplaced, and keeps explanations until placed', async () => {
    await store.applyTaskPlan('web', { create: [1, 2].map((slot) => ({ slot, specGeneration: 1, template: TEMPLATE })), shutdown: [], remove: [] }, fence);
    const [a, b] = (await store.listTasks('web')).sort((x, y) => x.slot - y.slot);
    await store.recordUnschedulable(new Map([[a!.id, '1 node: drained']]), fence);
    expect((await store.getTask(a!.id))?.status.message).toBe('1 node: drained');
    const same = await store.recordUnschedulable(new Map([[a!.id, '1 node: drained']]), fence);
    expect(same.written).toEqual([]);

    const first = await store.assignNodes([{ taskId: a!.id, node: 'n1' }], fence);
    expect(first.written).toEqual([a!.id]);
    const second = await store.assignNodes([{ taskId: a!.id, node: 'n2' }, { taskId: b!.id, node: 'n2' }], fence);
    expect(second.written).toEqual([b!.id]);
    expect(await store.getTask(a!.id)).toMatchObject({ nodeName: 'n1', status: { state: 'assigned', node: 'n1' } });
  });

  it('stores a global task with its target node and placement, and no node until the scheduler places it', async () => {
    const placement = { constraints: ['node.labels.zone == a'], maxPerNode: 0, strategy: 'spread' as const, spreadBy: 'node.labels.zone' };
    await store.applyTaskPlan('daemon', { create: [{ slot: 1, specGeneration: 1, template: TEMPLATE, targetNode: 'n1', placement }], shutdown: [], remove: [] }, fence);
    const [t] = await store.listTasks('daemon');
    expect(t).toMatchObject({ targetNode: 'n1', placement, status: { state: 'pending' } });
    expect(t!.nodeName).toBeUndefined();
    await store.assignNodes([{ taskId: t!.id, node: 'n1' }], fence);
    expect(await store.getTask(t!.id)).toMatchObject({ nodeName: 'n1', targetNode: 'n1', placement, status: { state: 'assigned', node: 'n1' } });
  });

  it('orphans the task a placement replaces in the same transaction, and only when the placement is written', async () => {
    await store.applyTaskPlan('api', { create: [{ slot: 1, specGeneration: 1, template: TEMPLATE }], shutdown: [], remove: [] }, fence);
    const [old] = await store.listTasks('api');
    await store.assignNodes([{ taskId: old!.id, node: 'n3' }], fence);
    await store.applyTaskPlan('api', { create: [{ slot: 1, specGeneration: 1, template: TEMPLATE, replaces: old!.id }], shutdown: [], remove: [] }, fence);
    const replacement = (await store.listTasks('api')).find((t) => t.replaces === old!.id)!;
    const orphan = { taskId: old!.id, message: `node n3 down, replaced by ${replacement.id}` };

    const placed = await store.assignNodes([{ taskId: replacement.id, node: 'n1', orphan }], fence);
    expect([...placed.written].sort()).toEqual([old!.id, replacement.id].sort());
    const [o, r] = [await store.getTask(old!.id), await store.getTask(replacement.id)];
    expect(o).toMatchObject({ desiredState: 'shutdown', status: { state: 'orphaned', message: orphan.message } });
    expect(r).toMatchObject({ nodeName: 'n1', status: { state: 'assigned' } });
    expect(o!.resourceVersion).toBe(r!.resourceVersion); // one transaction

    // A placement that is no longer possible (already placed) orphans nothing.
    await store.applyTaskPlan('api', { create: [{ slot: 2, specGeneration: 1, template: TEMPLATE }], shutdown: [], remove: [] }, fence);
    const other = (await store.listTasks('api')).find((t) => t.slot === 2)!;
    await store.assignNodes([{ taskId: other.id, node: 'n1' }], fence);
    const again = await store.assignNodes([{ taskId: replacement.id, node: 'n2', orphan: { taskId: other.id, message: 'x' } }], fence);
    expect(again.written).toEqual([]);
    expect((await store.getTask(other.id))?.status.state).toBe('assigned');
  });

  it('places from the caller\'s cache without overwriting what changed since: a stale record is read again', async () => {
    await store.applyTaskPlan('cached', { create: [1, 2, 3].map((slot) => ({ slot, specGeneration: 1, template: TEMPLATE })), shutdown: [], remove: [] }, fence);
    const tasks = await store.listTasks('cached');
    const cache = new Map(tasks.map((t) => [t.id, t]));
    const [fresh, stale, gone] = tasks;
    // Changed after the cache saw them: one shut down (not to be placed any more), one deleted.
    await store.applyTaskPlan('cached', { create: [], shutdown: [stale!.id], remove: [gone!.id] }, fence);
    const placed = await store.assignNodes(
      tasks.map((t) => ({ taskId: t.id, node: 'n1' })),
      fence,
      (id) => cache.get(id),
    );
    expect(placed.written).toEqual([fresh!.id]);
    expect(await store.getTask(fresh!.id)).toMatchObject({ nodeName: 'n1', status: { state: 'assigned' } });
    expect(await store.getTask(stale!.id)).toMatchObject({ desiredState: 'shutdown' });
    expect((await store.getTask(stale!.id))?.nodeName).toBeUndefined();
    expect(await store.getTask(gone!.id)).toBeUndefined();
  });

  it('records agent statuses forward-only and only from the node the task is on', async () => {
    await store.applyTaskPlan('db', { create: [{ slot: 1, specGeneration: 1, template: TEMPLATE }], shutdown: [], remove: [] }, fence);
    const [t] = await store.listTasks('db');
    await store.assignNodes([{ taskId: t!.id, node: 'n1' }], fence);
    const at = (state: 'running' | 'starting', pid?: number) => ({ taskId: t!.id, status: { state, ...(pid ? { pid } : {}), updatedAt: new Date().toISOString() } });
    await store.updateTaskStatuses('n2', [at('running', 9)]);
    expect((await store.getTask(t!.id))?.status.state).toBe('assigned');
    await store.updateTaskStatuses('n1', [at('starting'), at('running', 42)]);
    await store.updateTaskStatuses('n1', [at('starting')]);
    expect((await store.getTask(t!.id))?.status).toMatchObject({ state: 'running', pid: 42, node: 'n1' });
  });

  it('writes the reports of many nodes at once in shared transactions, each applied as its node said', async () => {
    const create = Array.from({ length: 60 }, (_, i) => ({ slot: i + 1, specGeneration: 1, template: TEMPLATE }));
    await store.applyTaskPlan('many', { create, shutdown: [], remove: [] }, fence);
    const tasks = await store.listTasks('many');
    const nodeOf = (i: number) => `m${i % 20}`;
    await store.assignNodes(tasks.map((t, i) => ({ taskId: t.id, node: nodeOf(i) })), fence);
    const before = await client!.get('/berth/v1/leader').exec();
    const at = (t: { id: string }) => ({ taskId: t.id, status: { state: 'running' as const, pid: 7, updatedAt: new Date().toISOString() } });
    // Every node reports its tasks at the same time; one node also reports a task that is not its own.
    await Promise.all([
      ...Array.from({ length: 20 }, (_, n) => store.updateTaskStatuses(`m${n}`, tasks.filter((_, i) => nodeOf(i) === `m${n}`).map(at))),
      store.updateTaskStatuses('m1', [at(tasks[0]!)]),
    ]);
    const after = await store.listTasks('many');
    expect(after.every((t) => t.status.state === 'running' && t.status.node === t.nodeName)).toBe(true);
    // 60 reports of 20 nodes: the first few calls start writes of their own (up to 4 at once),
    // the rest wait and share transactions (42 changes each at most) — not one per node.
    const revisions = new Set(after.map((t) => t.resourceVersion));
    expect(revisions.size).toBeLessThanOrEqual(8);
    expect(BigInt(after[0]!.resourceVersion)).toBeGreaterThan(BigInt(before.header.revision));
  });

  it('derives node state from the session lease and keeps the operator’s availability on re-register', async () => {
    const informer = store.nodeInformer();
    const seen: NodeInfo['state'][] = [];
    informer.subscribe((e) => e.type === 'put' && seen.push(e.value.state));
    const stop = new AbortController();
    const running = informer.run(stop.signal);
    try {
      await store.registerNode({ name: 'n1', ...NODE });
      expect((await store.getNode('n1'))?.state).toBe('unknown');
      await expect(store.setNodeAvailability('nope', 'drain')).rejects.toBeInstanceOf(NotFoundError);
      await store.setNodeAvailability('n1', 'drain');
      await store.registerNode({ name: 'n1', ...NODE, labels: { zone: 'b' } });
      const session = await store.openNodeSession('n1', 1);
      expect(await store.getNode('n1')).toMatchObject({ state: 'ready', availability: 'drain', labels: { zone: 'b' }, drivers: ['runc'], runtimes: ['container'] });
      expect((await store.listNodes()).map((n) => [n.name, n.state])).toEqual([['n1', 'ready']]);
      await session.keepAlive();
      session.close();
      // The lease expired: absent, but only a leader declares a node down.
      await vi.waitFor(async () => expect((await store.getNode('n1'))?.state).toBe('unknown'), { timeout: 20_000, interval: 200 });
      await vi.waitFor(() => expect(informer.get('n1')?.state).toBe('unknown'), { timeout: 20_000, interval: 100 });
      expect(seen).toContain('ready');
      await store.writeNodeLiveness(new Map([['n1', '2026-01-01T00:00:00.000Z']]), fence);
      await vi.waitFor(() => expect(informer.get('n1')).toMatchObject({ state: 'down', downSince: '2026-01-01T00:00:00.000Z' }), { timeout: 20_000, interval: 100 });
      expect(await store.getNode('n1')).toMatchObject({ state: 'down', downSince: '2026-01-01T00:00:00.000Z' });
      await store.writeNodeLiveness(new Map([['n1', undefined]]), fence);
      expect((await store.getNode('n1'))?.state).toBe('unknown');
    } finally {
      stop.abort();
      await running;
    }
  });

  it('keeps a connected node alive when a stale session of it bound the alive key last', async () => {
    await store.registerNode({ name: 'n7', ...NODE });
    const live = await store.openNodeSession('n7', 1);
    // A session that finished its Hello after the agent had reconnected: its lease now holds the key.
    const stale = await store.openNodeSession('n7', 1);
    stale.close(); // released, not revoked: without a fix the key would go with it a second later
    for (let i = 0; i < 10; i++) {
      await live.keepAlive();
      expect((await store.getNode('n7'))?.state).toBe('ready');
      await new Promise((r) => setTimeout(r, 300));
    }
    live.close();
  });
});

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
const NODE = { address: '10.0.0.1', labels: { zone: 'a' }, capacity: { cpuMillis: 1000, memoryBytes: 1 << 30 }, drivers: ['runc'] };

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

  it('derives node state from the session lease and keeps the operator’s availability on re-register', async () => {
    const informer = store.nodeInformer();
    const seen: NodeInfo['state'][] = [];
    informer.subscribe((e) => e.type === 'put' && seen.push(e.value.state));
    const stop = new AbortController();
    const running = informer.run(stop.signal);
    try {
      await store.registerNode({ name: 'n1', ...NODE });
      expect((await store.getNode('n1'))?.state).toBe('down');
      await expect(store.setNodeAvailability('nope', 'drain')).rejects.toBeInstanceOf(NotFoundError);
      await store.setNodeAvailability('n1', 'drain');
      await store.registerNode({ name: 'n1', ...NODE, labels: { zone: 'b' } });
      const session = await store.openNodeSession('n1', 1);
      expect(await store.getNode('n1')).toMatchObject({ state: 'ready', availability: 'drain', labels: { zone: 'b' } });
      expect((await store.listNodes()).map((n) => [n.name, n.state])).toEqual([['n1', 'ready']]);
      await session.keepAlive();
      session.close();
      await vi.waitFor(async () => expect((await store.getNode('n1'))?.state).toBe('down'), { timeout: 20_000, interval: 200 });
      await vi.waitFor(() => expect(informer.get('n1')?.state).toBe('down'), { timeout: 20_000, interval: 100 });
      expect(seen).toContain('ready');
    } finally {
      stop.abort();
      await running;
    }
  });
});

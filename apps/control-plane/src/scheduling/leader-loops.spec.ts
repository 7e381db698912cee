import { afterEach, describe, expect, it, vi } from 'vitest';
import { NodeLivenessLoop } from '../nodes/node-liveness.loop';
import { OrchestratorLoop } from '../orchestrator/orchestrator.loop';
import { ControlPlaneMetrics } from '../observability/metrics';
import { nodeFixture, specFixture } from '../testing/fixtures';
import { InMemoryStore } from '@berth/store/testing';
import { runTerm } from '../testing/term';
import { SchedulerLoop, type SchedulerLoopOptions } from './scheduler.loop';

const FENCE = { leaderKey: '/berth/v1/leader', createRevision: '7' };
const eventually = <T>(check: () => T | Promise<T>): Promise<T> => vi.waitFor(check, { timeout: 4_000, interval: 10 });

/** The leader's loops on one in-memory store, as one term runs them. */
function startTerm(signal: AbortSignal, graceMs: number, scheduler: Partial<SchedulerLoopOptions> = {}) {
  const store = new InMemoryStore();
  store.leaderFence = FENCE;
  const metrics = new ControlPlaneMetrics();
  const running = runTerm(
    store,
    { fence: FENCE, graceMs },
    (cluster) => [
      new NodeLivenessLoop(store, FENCE, cluster),
      new OrchestratorLoop(store, FENCE, cluster, metrics),
      new SchedulerLoop(store, FENCE, cluster, metrics, scheduler),
    ],
    signal,
  );
  return { store, metrics, running };
}

describe('orchestrator + scheduler loops on the store', () => {
  let stop = new AbortController();
  let running: Promise<void> | undefined;
  afterEach(async () => {
    stop.abort();
    await running;
    stop = new AbortController();
  });

  function start(graceMs = 0, scheduler: Partial<SchedulerLoopOptions> = {}) {
    const term = startTerm(stop.signal, graceMs, scheduler);
    running = term.running;
    return term;
  }
  const tasksOf = (store: InMemoryStore) => [...store.tasks.items.values()];

  it('creates 3 tasks for replicas: 3 and spreads them 2/1 over two ready nodes', async () => {
    const { store, metrics } = start();
    store.putNode(nodeFixture('a'));
    store.putNode(nodeFixture('b'));
    await store.applyServices([{ name: 'web', labels: {}, spec: specFixture({ replicas: 3 }) }]);
    await eventually(() => expect(tasksOf(store).filter((t) => t.status.state === 'assigned')).toHaveLength(3));
    const perNode = tasksOf(store).reduce<Record<string, number>>((acc, t) => ({ ...acc, [t.nodeName!]: (acc[t.nodeName!] ?? 0) + 1 }), {});
    expect(Object.values(perNode).sort()).toEqual([1, 2]);
    expect(tasksOf(store).map((t) => t.slot).sort()).toEqual([1, 2, 3]);
    expect(tasksOf(store).every((t) => t.template?.image === specFixture().template.image && /^web\.\d\.[0-9a-z]{10}$/.test(t.id))).toBe(true);
    expect(await metrics.text()).toContain('berth_scheduler_placements_total{result="placed"} 3');

    await store.scaleService('web', 1);
    await eventually(() => {
      const wanted = tasksOf(store).filter((t) => t.desiredState === 'running');
      expect(wanted.map((t) => t.slot)).toEqual([1]);
    });
    expect(tasksOf(store).filter((t) => t.slot > 1).map((t) => t.desiredState)).toEqual(['shutdown', 'shutdown']);
  });

  it('runs a global service through the scheduler: one task per node meeting its constraint, waiting with the reason where memory lacks', async () => {
    const { store } = start();
    const inZone = (name: string, zone: string, memoryBytes = 2 * 1024 ** 3) => ({ ...nodeFixture(name), labels: { zone }, capacity: { cpuMillis: 2000, memoryBytes } });
    store.putNode(inZone('a', 'x'));
    store.putNode(inZone('b', 'y'));
    store.putNode(inZone('c', 'x', 32 * 1024 ** 2));
    const spec = specFixture({ mode: 'global', replicas: 0, placement: { constraints: ['node.labels.zone == x'], maxPerNode: 0, strategy: 'spread' } });
    await store.applyServices([{ name: 'agentd', labels: {}, spec: { ...spec, template: { ...spec.template, resources: { memoryBytes: 64 * 1024 ** 2 } } } }]);
    await eventually(() => {
      const byTarget = new Map(tasksOf(store).map((t) => [t.targetNode, t]));
      expect([...byTarget.keys()].sort()).toEqual(['a', 'c']);
      expect(byTarget.get('a')).toMatchObject({ nodeName: 'a', status: { state: 'assigned' } });
      expect(byTarget.get('c')).toMatchObject({ status: { state: 'pending', message: '1 node: insufficient memory (needs 64Mi)' } });
    });
    expect(tasksOf(store).every((t) => t.placement?.constraints[0] === 'node.labels.zone == x')).toBe(true);

    // Relabelled into the constraint: b gets a task; relabelled out of it: a's task is stopped.
    store.putNode(inZone('b', 'x'));
    store.putNode(inZone('a', 'y'));
    await eventually(() => {
      const wanted = tasksOf(store).filter((t) => t.desiredState === 'running');
      expect(wanted.map((t) => t.targetNode).sort()).toEqual(['b', 'c']);
      expect(wanted.find((t) => t.targetNode === 'b')?.nodeName).toBe('b');
    });
    expect(tasksOf(store).find((t) => t.targetNode === 'a')?.desiredState).toBe('shutdown');
  });

  it('stores why a task fits no node, and places it once a node fits', async () => {
    const { store } = start();
    store.putNode(nodeFixture('a'));
    store.putNode(nodeFixture('b', { availability: 'drain' }));
    const spec = specFixture({ replicas: 1 });
    await store.applyServices([{ name: 'big', labels: {}, spec: { ...spec, template: { ...spec.template, resources: { memoryBytes: 64 * 1024 ** 3 } } } }]);
    await eventually(() => expect(tasksOf(store)[0]?.status.message).toBe('1 node: drained; 1 node: insufficient memory (needs 64Gi)'));
    expect(tasksOf(store)[0]?.status.state).toBe('pending');
    store.putNode({ ...nodeFixture('c'), capacity: { cpuMillis: 1000, memoryBytes: 128 * 1024 ** 3 } });
    await eventually(() => expect(tasksOf(store)[0]).toMatchObject({ nodeName: 'c', status: { state: 'assigned' } }));
  });

  it('stops and forgets the tasks of a deleted service, placed or not', async () => {
    const { store } = start();
    store.putNode(nodeFixture('a'));
    const spec = specFixture({ replicas: 2, placement: { constraints: ['node.name == a'], maxPerNode: 1, strategy: 'spread' } });
    await store.applyServices([{ name: 'web', labels: {}, spec }]);
    await eventually(() => expect(tasksOf(store).map((t) => t.status.state).sort()).toEqual(['assigned', 'pending']));
    await store.deleteService('web');
    // The never-placed task is forgotten at once (nothing holds it anywhere); the placed one
    // stays, desired shutdown, until its agent reports the stop.
    await eventually(() => expect(tasksOf(store).map((t) => [t.nodeName, t.status.state, t.desiredState])).toEqual([['a', 'assigned', 'shutdown']]));
    const placed = tasksOf(store).find((t) => t.nodeName === 'a')!;
    await store.updateTaskStatuses('a', [{ taskId: placed.id, status: { state: 'shutdown', updatedAt: 'now' } }]);
    await eventually(() => expect(tasksOf(store)).toEqual([]));
  });

  it('places nothing on a node that is absent during the grace after a term starts', async () => {
    const { store } = start(60_000);
    store.putNode(nodeFixture('gone', { state: 'unknown' }));
    await store.applyServices([{ name: 'web', labels: {}, spec: specFixture({ replicas: 1 }) }]);
    await eventually(() => expect(tasksOf(store)[0]?.status.message).toBe('1 node: node unknown'));
    store.putNode(nodeFixture('back'));
    await eventually(() => expect(tasksOf(store)[0]?.nodeName).toBe('back'));
  });

  describe('a node that rejects a task for a host port held outside berth', () => {
    const spec = specFixture({
      replicas: 1,
      restartPolicy: { condition: 'any', delayMs: 10, maxDelayMs: 10, maxAttempts: 0 },
      template: { ...specFixture().template, ports: [{ containerPort: 80, hostPort: 18080, protocol: 'tcp' }] },
    });
    /** What the agent on the task's node reports when its prepare finds the port taken. */
    const reject = (store: InMemoryStore, task: { id: string; nodeName?: string }, at = Date.now()) => {
      const message = `host port 18080/tcp is already in use on node ${task.nodeName}`;
      return store.updateTaskStatuses(task.nodeName!, [{ taskId: task.id, status: { state: 'rejected', message, updatedAt: new Date(at).toISOString() } }]);
    };
    const live = (store: InMemoryStore) => tasksOf(store).filter((t) => t.desiredState === 'running');
    const firstAssigned = (store: InMemoryStore) =>
      eventually(() => {
        const [t] = tasksOf(store);
        expect(t?.status.state).toBe('assigned');
        return t!;
      });

    it('gets the replacement of its task placed on another node', async () => {
      const { store } = start();
      store.putNode(nodeFixture('a'));
      store.putNode(nodeFixture('b'));
      await store.applyServices([{ name: 'web', labels: {}, spec }]);
      const first = await firstAssigned(store);
      await reject(store, first);
      const other = first.nodeName === 'a' ? 'b' : 'a';
      await eventually(() => expect(live(store)).toMatchObject([{ slot: 1, nodeName: other, status: { state: 'assigned' } }]));
    });

    it('on a single node, keeps the replacement pending with the reason, then places it once the cooldown ends', async () => {
      let clock = Date.now(); // the scheduler's clock: frozen, so the cooldown ends when the test says
      const { store } = start(0, { rejectionCooldownMs: 100, now: () => clock });
      store.putNode(nodeFixture('a'));
      await store.applyServices([{ name: 'web', labels: {}, spec }]);
      const first = await firstAssigned(store);
      await reject(store, first, clock);
      await eventually(() =>
        expect(live(store)).toMatchObject([
          { slot: 1, status: { state: 'pending', message: "1 node: rejected the slot's last task: host port 18080/tcp is already in use" } },
        ]),
      );
      await new Promise((r) => setTimeout(r, 150)); // a re-pass inside the cooldown changes nothing
      expect(live(store)).toMatchObject([{ slot: 1, status: { state: 'pending' } }]);
      expect(live(store)[0]?.nodeName).toBeUndefined();
      // No store event marks the end of the cooldown: the loop's own timer finds it.
      clock += 100;
      await eventually(() => expect(live(store)).toMatchObject([{ slot: 1, nodeName: 'a', status: { state: 'assigned' } }]));
    });
  });
});

describe('failover through the loops', () => {
  let stop = new AbortController();
  let running: Promise<void> | undefined;
  afterEach(async () => {
    stop.abort();
    await running;
    stop = new AbortController();
  });
  const start = () => {
    const term = startTerm(stop.signal, 0);
    running = term.running;
    return term;
  };

  const tasksOf = (store: InMemoryStore) => [...store.tasks.items.values()];
  /** What the agents would report: every assigned task runs. */
  const runAll = async (store: InMemoryStore) => {
    for (const t of tasksOf(store).filter((t) => t.status.state === 'assigned')) {
      await store.updateTaskStatuses(t.nodeName!, [{ taskId: t.id, status: { state: 'running', updatedAt: new Date().toISOString() } }]);
    }
  };

  it('replaces the tasks of a node whose session ends, orphaning them as their replacements are placed', async () => {
    const { store } = start();
    const sessions = new Map<string, { close(): void }>();
    for (const n of ['a', 'b']) {
      await store.registerNode({ name: n, address: '127.0.0.1', labels: {}, capacity: { cpuMillis: 2000, memoryBytes: 2 * 1024 ** 3 }, drivers: ['runc'] });
      sessions.set(n, await store.openNodeSession(n));
    }
    await store.applyServices([{ name: 'web', labels: {}, spec: specFixture({ replicas: 4 }) }]);
    await eventually(() => expect(tasksOf(store).filter((t) => t.status.state === 'assigned')).toHaveLength(4));
    await runAll(store);
    const onB = tasksOf(store).filter((t) => t.nodeName === 'b');
    expect(onB).toHaveLength(2);

    sessions.get('b')!.close();
    await eventually(() => {
      for (const old of onB) {
        const now = store.tasks.items.get(old.id)!;
        expect(now).toMatchObject({ desiredState: 'shutdown', status: { state: 'orphaned' } });
        const replacement = tasksOf(store).find((t) => t.replaces === old.id);
        expect(replacement).toMatchObject({ slot: old.slot, nodeName: 'a', status: { state: 'assigned' } });
        expect(now.status.message).toMatch(new RegExp(`^node b down since .*, replaced by ${replacement!.id.replace(/\./g, '\\.')}$`));
      }
    });
    expect((await store.getNode('b'))?.state).toBe('down');
    expect(tasksOf(store).filter((t) => t.desiredState === 'running')).toHaveLength(4);
  });

  it('keeps a task of a down node that nothing else fits, and counts on it again when the node returns', async () => {
    const { store } = start();
    await store.registerNode({ name: 'a', address: '127.0.0.1', labels: {}, capacity: { cpuMillis: 2000, memoryBytes: 2 * 1024 ** 3 }, drivers: ['runc'] });
    const session = await store.openNodeSession('a');
    await store.registerNode({ name: 'b', address: '127.0.0.1', labels: {}, capacity: { cpuMillis: 2000, memoryBytes: 2 * 1024 ** 3 }, drivers: ['runc'] });
    await store.openNodeSession('b');
    const spec = specFixture({ replicas: 1, placement: { constraints: ['node.name == a'], maxPerNode: 0, strategy: 'spread' } });
    await store.applyServices([{ name: 'pinned', labels: {}, spec }]);
    await eventually(() => expect(tasksOf(store)[0]?.status.state).toBe('assigned'));
    await runAll(store);
    const [original] = tasksOf(store);

    session.close();
    await eventually(() => expect(tasksOf(store).find((t) => t.replaces === original!.id)?.status.message).toMatch(/node/));
    expect(store.tasks.items.get(original!.id)?.status.state).toBe('running');

    await store.openNodeSession('a');
    await eventually(() => expect(tasksOf(store).map((t) => t.id)).toEqual([original!.id]));
    expect(store.tasks.items.get(original!.id)).toMatchObject({ desiredState: 'running', status: { state: 'running' } });
  });
});

import { afterEach, describe, expect, it, vi } from 'vitest';
import type { ServiceStatus } from '@berth/core';
import { ControlPlaneMetrics } from '../observability/metrics';
import { nodeFixture, serviceFixture, taskFixture } from '../testing/fixtures';
import { InMemoryStore } from '@berth/store/testing';
import { runTerm } from '../testing/term';
import { StatusLoop } from './status.loop';

/** Waits for the loop to converge; generous because CI machines are shared, never a speed check. */
const eventually = <T>(check: () => T | Promise<T>): Promise<T> => vi.waitFor(check, { timeout: 10_000, interval: 10 });

const FENCE = { leaderKey: '/berth/v1/leader', createRevision: '7' };

describe('StatusLoop', () => {
  const stops: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const stop of stops.splice(0)) await stop();
  });

  function start(store: InMemoryStore, fence = FENCE): ControlPlaneMetrics {
    const metrics = new ControlPlaneMetrics();
    const ac = new AbortController();
    const running = runTerm(store, { fence }, (cluster) => [new StatusLoop(store, store, fence, cluster, metrics, { concurrency: 1 })], ac.signal);
    stops.push(async () => {
      ac.abort();
      await running;
    });
    return metrics;
  }

  function leaderStore(): InMemoryStore {
    const store = new InMemoryStore();
    store.leaderFence = FENCE;
    return store;
  }

  const status = (store: InMemoryStore, name: string): ServiceStatus | undefined => store.statuses.items.get(name);

  it('writes the status of every service when the term starts', async () => {
    const store = leaderStore();
    await store.applyServices([{ name: 'web', labels: {}, spec: serviceFixture('web').spec }]);
    const rv = store.services.items.get('web')!.meta.resourceVersion;
    start(store);
    await eventually(() => expect(status(store, 'web')).toMatchObject({ desired: 3, running: 0, updated: 0, observedGeneration: 1 }));
    expect(store.services.items.get('web')!.meta.resourceVersion).toBe(rv);
  });

  it('follows tasks and spec changes', async () => {
    const store = leaderStore();
    start(store);
    await store.applyServices([{ name: 'web', labels: {}, spec: serviceFixture('web').spec }]);
    store.putTask(taskFixture('web', 1));
    store.putTask(taskFixture('web', 2));
    await eventually(() => expect(status(store, 'web')).toMatchObject({ desired: 3, running: 2, updated: 2 }));
    await store.scaleService('web', 5);
    await eventually(() => expect(status(store, 'web')).toMatchObject({ desired: 5, running: 2, updated: 0, observedGeneration: 2 }));
  });

  it('does not rewrite a status that did not change', async () => {
    const store = leaderStore();
    start(store);
    await store.applyServices([{ name: 'web', labels: {}, spec: serviceFixture('web').spec }]);
    await eventually(() => expect(status(store, 'web')).toBeDefined());
    const writes = store.statusWrites;
    store.putTask(taskFixture('web', 1, { state: 'pending' })); // not running: status stays
    await store.applyServices([{ name: 'db', labels: {}, spec: serviceFixture('db').spec }]);
    // One worker handles keys in order, so once db's status exists, web was reconciled too.
    await eventually(() => expect(status(store, 'db')).toBeDefined());
    expect(store.statusWrites).toBe(writes + 1);
  });

  it('removes the status of a service that no longer exists', async () => {
    const store = leaderStore();
    await store.putServiceStatuses(new Map([['gone', { desired: 1, running: 0, updated: 0, observedGeneration: 1, updatedAt: 'x' }]]), FENCE);
    start(store);
    await eventually(() => expect(status(store, 'gone')).toBeUndefined());
  });

  it('counts eligible nodes for a global service as they come and go', async () => {
    const store = leaderStore();
    start(store);
    await store.applyServices([{ name: 'agent', labels: {}, spec: serviceFixture('agent', { spec: { mode: 'global' } }).spec }]);
    await eventually(() => expect(status(store, 'agent')?.desired).toBe(0));
    store.putNode(nodeFixture('a'));
    store.putNode(nodeFixture('b'));
    await eventually(() => expect(status(store, 'agent')?.desired).toBe(2));
    store.putNode(nodeFixture('b', { availability: 'drain' }));
    await eventually(() => expect(status(store, 'agent')?.desired).toBe(1));
  });

  it('exports desired and running replicas per service', async () => {
    const store = leaderStore();
    await store.applyServices([{ name: 'web', labels: {}, spec: serviceFixture('web').spec }]);
    store.putTask(taskFixture('web', 1));
    const metrics = start(store);
    await eventually(async () => {
      const text = await metrics.text();
      expect(text).toContain('berth_service_replicas_desired{service="web"} 3');
      expect(text).toContain('berth_service_replicas_running{service="web"} 1');
    });
  });

  it('writes nothing with the fence of a past term', async () => {
    const store = leaderStore();
    await store.applyServices([{ name: 'web', labels: {}, spec: serviceFixture('web').spec }]);
    const metrics = start(store, { ...FENCE, createRevision: '3' });
    // The reconcile ran (its duration was observed) but its write was refused.
    await eventually(async () => expect(await metrics.text()).toMatch(/berth_reconcile_duration_seconds_count\{loop="status"\} [1-9]/));
    expect(status(store, 'web')).toBeUndefined();
  });
});

describe('StatusLoop on a new term with many services', () => {
  it('writes their statuses in a few batched transactions, not one per service', async () => {
    const store = new InMemoryStore();
    store.leaderFence = FENCE;
    const spec = serviceFixture('x').spec;
    await store.applyServices(Array.from({ length: 50 }, (_, i) => ({ name: `svc-${i}`, labels: {}, spec })));
    const ac = new AbortController();
    const running = runTerm(store, { fence: FENCE }, (cluster) => [new StatusLoop(store, store, FENCE, cluster, new ControlPlaneMetrics())], ac.signal);
    try {
      await eventually(() => expect(store.statuses.items.size).toBe(50));
      expect(store.statusWrites).toBeLessThan(5);
    } finally {
      ac.abort();
      await running;
    }
  });
});

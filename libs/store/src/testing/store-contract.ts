import {
  ConflictError,
  NotFoundError,
  NotLeaderError,
  REVISION_HISTORY,
  ValidationError,
  type Rollout,
  type ServiceDraft,
  type ServiceSpec,
  type TaskTemplate,
} from '@berth/core';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { LeaderFence, NodeRegistration, Store, WatchEvent } from '../store';

/** A store to run the contract against, fresh for every test. */
export interface StoreUnderTest {
  readonly store: Store;
  /** A fence the store accepts leader writes with (the current term's). */
  readonly fence: LeaderFence;
  /** Ends the current term as another leader would take over: `fence` turns stale; returns the new term's. */
  newTerm(): Promise<LeaderFence>;
  /** Releases what the test held (clients, keys); optional. */
  cleanup?(): Promise<void>;
}

const TEMPLATE: TaskTemplate = { runtime: 'container', image: 'registry.test/web:1', env: {}, resources: {}, ports: [], volumes: [], stopGracePeriodMs: 1000 };
const REGISTRATION: NodeRegistration = {
  name: 'n1',
  address: '10.0.0.1',
  labels: { zone: 'a', disk: 'ssd' },
  capacity: { cpuMillis: 2000, memoryBytes: 2 ** 31 },
  drivers: ['runc'],
};

function spec(overrides: Partial<ServiceSpec> = {}): ServiceSpec {
  return {
    mode: 'replicated',
    replicas: 1,
    template: TEMPLATE,
    restartPolicy: { condition: 'any', delayMs: 1000, maxDelayMs: 30_000, maxAttempts: 0 },
    update: { parallelism: 1, delayMs: 0, monitorMs: 5000, maxFailureRatio: 0, failureAction: 'rollback', order: 'stop-first' },
    rollback: { parallelism: 1, delayMs: 0, monitorMs: 5000, maxFailureRatio: 0, failureAction: 'pause', order: 'stop-first' },
    placement: { constraints: [], maxPerNode: 0, strategy: 'spread' },
    fencing: false,
    ...overrides,
  };
}

function draft(name: string, opts: { replicas?: number; image?: string; labels?: Record<string, string>; resourceVersion?: string } = {}): ServiceDraft {
  return {
    name,
    labels: opts.labels ?? {},
    spec: spec({ replicas: opts.replicas ?? 1, template: { ...TEMPLATE, image: opts.image ?? TEMPLATE.image } }),
    ...(opts.resourceVersion !== undefined ? { resourceVersion: opts.resourceVersion } : {}),
  };
}

const rollout = (revision: number): Rollout => ({ revision, state: 'rolling-back', total: 1, updated: 0, failed: 0, startedAt: '2026-01-01T00:00:00.000Z', updatedAt: '2026-01-01T00:00:00.000Z' });

/**
 * The behaviour every Store implementation owes its callers (vitest): EtcdStore against a real
 * etcd (test/integration/store) and the in-memory double (its spec) both pass it, so unit tests
 * on the double say something about production. `make` is called for every test.
 */
export function runStoreContract(name: string, make: () => Promise<StoreUnderTest>): void {
  describe(`Store contract: ${name}`, () => {
    let t: StoreUnderTest;
    let store: Store;
    beforeEach(async () => {
      t = await make();
      store = t.store;
    });
    afterEach(async () => {
      await t?.cleanup?.();
    });

    /** The events written since `from` (an index into listEvents), as `kind object reason: message`. */
    const events = async (from = 0) => (await store.listEvents()).slice(from).map((e) => `${e.kind} ${e.object} ${e.reason}: ${e.message}`);
    const eventCount = async () => (await store.listEvents()).length;
    const create = (service: string, slots: number[], fence = t.fence) =>
      store.applyTaskPlan(service, { create: slots.map((slot) => ({ slot, specGeneration: 1, template: TEMPLATE })), shutdown: [], remove: [] }, fence);
    const tasksOf = async (service: string) => (await store.listTasks(service)).sort((a, b) => a.slot - b.slot);

    describe('services', () => {
      it('applies created, then configured or unchanged as compared on canonical labels + spec', async () => {
        const [created] = await store.applyServices([draft('web', { labels: { tier: 'front', app: 'web' } })]);
        expect(created).toMatchObject({ name: 'web', action: 'created', service: { meta: { name: 'web', generation: 1, revision: 1, labels: { tier: 'front', app: 'web' } } } });
        expect(await store.getService('web')).toEqual(created!.service);

        // The same labels and spec with their keys in another order: nothing is written.
        const reversed = <T extends object>(o: T): T => Object.fromEntries(Object.entries(o).reverse()) as T;
        const [same] = await store.applyServices([{ name: 'web', labels: { app: 'web', tier: 'front' }, spec: reversed({ ...spec(), template: reversed(TEMPLATE) }) }]);
        expect(same).toMatchObject({ action: 'unchanged', service: { meta: { resourceVersion: created!.service.meta.resourceVersion, generation: 1 } } });

        const [labels] = await store.applyServices([draft('web', { labels: { tier: 'back' } })]);
        expect(labels!.action).toBe('configured');
        expect(labels!.service.meta).toMatchObject({ generation: 2, revision: 1, createdAt: created!.service.meta.createdAt });
        expect(BigInt(labels!.service.meta.resourceVersion)).toBeGreaterThan(BigInt(created!.service.meta.resourceVersion));
        const [replicas] = await store.applyServices([draft('web', { labels: { tier: 'back' }, replicas: 3 })]);
        expect(replicas!.service.meta).toMatchObject({ generation: 3, revision: 1 });
        const [image] = await store.applyServices([draft('web', { labels: { tier: 'back' }, replicas: 3, image: 'registry.test/web:2' })]);
        expect(image!.service.meta).toMatchObject({ generation: 4, revision: 2 });
        expect(await store.getService('web')).toEqual(image!.service);
        expect((await store.listRevisions('web')).map((r) => [r.revision, r.cause])).toEqual([
          [1, 'apply'],
          [2, 'apply'],
        ]);
        expect(await events()).toEqual([
          'service web Created: created: 1 replica(s) of registry.test/web:1 (revision 1)',
          'service web Updated: applied generation 2 (labels or settings; nothing to roll out)',
          'service web Scaled: scaled from 1 to 3 replica(s) (apply)',
          'service web Updated: applied generation 4: revision 2 (image registry.test/web:2)',
        ]);
      });

      it('computes a dry run the same way and writes nothing', async () => {
        await store.applyServices([draft('web')]);
        const before = await eventCount();
        const outcomes = await store.applyServices([draft('web', { replicas: 4 }), draft('new')], { dryRun: true });
        expect(outcomes.map((o) => [o.name, o.action, o.service.meta.generation, o.service.meta.resourceVersion])).toEqual([
          ['web', 'configured', 2, ''],
          ['new', 'created', 1, ''],
        ]);
        expect((await store.listServices()).map((s) => [s.meta.name, s.spec.replicas])).toEqual([['web', 1]]);
        expect(await eventCount()).toBe(before);
      });

      it('refuses a stale resourceVersion with ConflictError and writes nothing', async () => {
        const [first] = await store.applyServices([draft('web')]);
        const stale = first!.service.meta.resourceVersion;
        await store.applyServices([draft('web', { replicas: 2 })]);
        const before = await store.getService('web');
        const err = await store.applyServices([draft('web', { replicas: 9, resourceVersion: stale })]).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(ConflictError);
        expect((err as Error).message).toContain(stale);
        await expect(store.deleteService('web', { resourceVersion: stale })).rejects.toBeInstanceOf(ConflictError);
        await expect(store.restoreRevision('web', 1, { cause: 'undo', resourceVersion: stale })).rejects.toBeInstanceOf(ConflictError);
        await expect(store.applyServices([draft('ghost', { resourceVersion: stale })])).rejects.toBeInstanceOf(ConflictError);
        expect(await store.getService('web')).toEqual(before);
        expect(await store.getService('ghost')).toBeUndefined();
      });

      it('applies all or nothing: one conflicting draft and none is written; a name twice is invalid', async () => {
        const [db] = await store.applyServices([draft('db')]);
        await store.scaleService('db', 3);
        const before = await eventCount();
        const err = await store.applyServices([draft('a'), draft('b'), draft('db', { replicas: 7, resourceVersion: db!.service.meta.resourceVersion })]).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(ConflictError);
        expect((await store.listServices()).map((s) => [s.meta.name, s.spec.replicas])).toEqual([['db', 3]]);
        await expect(store.applyServices([draft('a'), draft('a', { replicas: 2 })])).rejects.toBeInstanceOf(ValidationError);
        expect(await store.getService('a')).toBeUndefined();
        expect(await eventCount()).toBe(before);
      });

      it('scales: generation moves, revision stays, the same count writes nothing', async () => {
        await store.applyServices([draft('web')]);
        const scaled = await store.scaleService('web', 5);
        expect(scaled).toMatchObject({ spec: { replicas: 5 }, meta: { generation: 2, revision: 1 } });
        expect(await store.getService('web')).toEqual(scaled);
        expect(await store.scaleService('web', 5)).toEqual(scaled);
        expect((await events()).slice(1)).toEqual(['service web Scaled: scaled from 1 to 5 replica(s) (berth scale)']);
        await expect(store.scaleService('nope', 1)).rejects.toBeInstanceOf(NotFoundError);
      });

      it('refuses to scale a global service (ValidationError) and writes nothing', async () => {
        const global = { ...draft('agent'), spec: { ...draft('agent').spec, mode: 'global' as const } };
        await store.applyServices([global]);
        const before = await store.getService('agent');
        const count = await eventCount();
        const err = await store.scaleService('agent', 3).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(ValidationError);
        expect((err as Error).message).toMatch(/"agent" is global: it runs one task on every eligible node and cannot be scaled/);
        expect(await store.getService('agent')).toEqual(before);
        expect(await eventCount()).toBe(count);
      });

      it('deletes a service with its status, rollout and history', async () => {
        await store.applyServices([draft('web')]);
        await store.putServiceStatuses(new Map([['web', { desired: 1, running: 0, updated: 0, observedGeneration: 1, updatedAt: 'x' }]]), t.fence);
        await store.putRollouts(new Map([['web', rollout(1)]]), t.fence);
        await store.deleteService('web');
        expect(await store.getService('web')).toBeUndefined();
        expect(await store.getServiceStatus('web')).toBeUndefined();
        expect(await store.getRollout('web')).toBeUndefined();
        await expect(store.listRevisions('web')).rejects.toBeInstanceOf(NotFoundError);
        await expect(store.deleteService('web')).rejects.toBeInstanceOf(NotFoundError);
        expect((await events()).at(-1)).toBe('service web Deleted: deleted: its tasks stop');
        // A new service of that name starts over.
        const [again] = await store.applyServices([draft('web')]);
        expect(again!.service.meta).toMatchObject({ generation: 1, revision: 1 });
        expect((await store.listRevisions('web')).map((r) => r.revision)).toEqual([1]);
      });

      it('undoes to a revision: its spec with the current replicas, as a new revision', async () => {
        await store.applyServices([draft('web', { image: 'registry.test/web:1' })]);
        await store.applyServices([draft('web', { image: 'registry.test/web:2' })]);
        await store.scaleService('web', 3);
        const current = await store.getService('web');
        const undone = await store.restoreRevision('web', 1, { cause: 'undo to revision 1', resourceVersion: current!.meta.resourceVersion });
        expect(undone).toMatchObject({ spec: { replicas: 3, template: { image: 'registry.test/web:1' } }, meta: { revision: 3, generation: 4 } });
        expect(await store.getService('web')).toEqual(undone);
        expect((await store.listRevisions('web')).map((r) => [r.revision, r.cause, r.spec.template.image])).toEqual([
          [1, 'apply', 'registry.test/web:1'],
          [2, 'apply', 'registry.test/web:2'],
          [3, 'undo to revision 1', 'registry.test/web:1'],
        ]);
        expect((await events()).at(-1)).toBe("service web Undone: rollout undone: revision 3 is revision 1's spec again (image registry.test/web:1)");
        await expect(store.restoreRevision('web', 9, { cause: 'undo' })).rejects.toBeInstanceOf(NotFoundError);
        await expect(store.restoreRevision('nope', 1, { cause: 'undo' })).rejects.toBeInstanceOf(NotFoundError);
      });

      it('keeps the last REVISION_HISTORY revisions', async () => {
        for (let i = 1; i <= REVISION_HISTORY + 2; i++) await store.applyServices([draft('web', { image: `registry.test/web:${i}` })]);
        const kept = (await store.listRevisions('web')).map((r) => r.revision);
        expect(kept).toEqual(Array.from({ length: REVISION_HISTORY }, (_, i) => i + 3));
        await expect(store.restoreRevision('web', 2, { cause: 'undo' })).rejects.toBeInstanceOf(NotFoundError);
      });

      it('rolls back for the leader: fenced, with its rollout record and events in the same write', async () => {
        await store.applyServices([draft('web', { image: 'registry.test/web:1' })]);
        await store.applyServices([draft('web', { image: 'registry.test/web:2' })]);
        const event = { kind: 'rollout', object: 'web', service: 'web', reason: 'RollingBack', message: 'rolling back to revision 1' } as const;
        const restored = await store.restoreRevision('web', 1, { cause: 'rollback to revision 1', fence: t.fence, rollout, events: [event] });
        expect(restored.meta.revision).toBe(3);
        expect(await store.getRollout('web')).toEqual(rollout(3));
        expect((await events()).at(-1)).toBe('rollout web RollingBack: rolling back to revision 1');
      });

      it('restarts: a new revision with the same spec, re-pinning the image when told', async () => {
        await store.applyServices([draft('web')]);
        const restarted = await store.restartService('web');
        expect(restarted.meta).toMatchObject({ generation: 2, revision: 2, restartGeneration: 2 });
        expect(restarted.spec).toEqual(spec());
        const pinned = await store.restartService('web', { imageDigest: 'sha256:abc' });
        expect(pinned.spec.template.imageDigest).toBe('sha256:abc');
        const kept = await store.restartService('web');
        expect(kept.spec.template.imageDigest).toBe('sha256:abc');
        const unpinned = await store.restartService('web', { imageDigest: null });
        expect(unpinned.spec.template).not.toHaveProperty('imageDigest');
        expect(await store.getService('web')).toEqual(unpinned);
        expect((await store.listRevisions('web')).map((r) => r.cause)).toEqual(['apply', 'restart', 'restart', 'restart', 'restart']);
        expect((await events())[1]).toBe('service web Restarted: restarted: revision 2 replaces every task (image registry.test/web:1)');
        await expect(store.restartService('nope')).rejects.toBeInstanceOf(NotFoundError);
      });

      it("records the operator's pause and resume for the current revision", async () => {
        await store.applyServices([draft('web')]);
        const paused = await store.controlRollout('web', 'pause');
        expect(paused.meta.rolloutControl).toMatchObject({ revision: 1, action: 'pause' });
        expect(paused.meta).toMatchObject({ generation: 1, revision: 1 });
        expect(await store.getService('web')).toEqual(paused);
        const resumed = await store.controlRollout('web', 'resume');
        expect(resumed.meta.rolloutControl).toMatchObject({ revision: 1, action: 'resume' });
        expect((await events()).slice(1)).toEqual([
          'rollout web Paused: rollout of revision 1 paused by the operator',
          'rollout web Resumed: rollout of revision 1 resumed by the operator',
        ]);
        await expect(store.controlRollout('nope', 'pause')).rejects.toBeInstanceOf(NotFoundError);
      });
    });

    describe('tasks', () => {
      it('creates pending tasks with their template, then shuts them down and removes them', async () => {
        const res = await create('web', [1, 2, 3]);
        expect(res.written).toHaveLength(3);
        expect(res.revision).toBeDefined();
        const [a, b, c] = await tasksOf('web');
        for (const task of [a!, b!, c!]) {
          expect(task.id).toMatch(/^web\.\d\.[0-9a-z]{10}$/);
          expect(task).toMatchObject({ service: 'web', specGeneration: 1, desiredState: 'running', status: { state: 'pending' }, template: TEMPLATE });
        }
        await store.assignNodes([{ taskId: b!.id, node: 'n1' }], t.fence);
        const before = await eventCount();
        const next = await store.applyTaskPlan(
          'web',
          { create: [{ slot: 4, specGeneration: 2, template: TEMPLATE, succeeds: { taskId: c!.id, why: 'update to generation 2' } }], shutdown: [a!.id, b!.id], remove: [c!.id] },
          t.fence,
        );
        expect(next.written).toHaveLength(4);
        const after = await tasksOf('web');
        expect(after.map((x) => [x.slot, x.desiredState, x.status.state])).toEqual([
          [1, 'shutdown', 'shutdown'], // never placed: nobody would report its end
          [2, 'shutdown', 'assigned'], // its agent stops it and says so
          [4, 'running', 'pending'],
        ]);
        expect(await store.getTask(c!.id)).toBeUndefined();
        expect(await events(before)).toEqual([
          `task ${a!.id} Stopped: stopped: stopped before it was placed on a node`,
          `task ${c!.id} Replaced: replaced by ${after[2]!.id}: update to generation 2`,
        ]);
      });

      it('assigns only pending, unplaced, wanted tasks, and orphans a task only with its placement', async () => {
        await create('web', [1, 2, 3]);
        const [a, b, c] = await tasksOf('web');
        await store.applyTaskPlan('web', { create: [], shutdown: [c!.id], remove: [] }, t.fence);
        const first = await store.assignNodes([{ taskId: a!.id, node: 'n1' }], t.fence);
        expect(first.written).toEqual([a!.id]);
        const before = await eventCount();
        const second = await store.assignNodes(
          [
            { taskId: a!.id, node: 'n2', orphan: { taskId: b!.id, message: 'must not be written' } },
            { taskId: c!.id, node: 'n2' },
            { taskId: 'web.9.gone', node: 'n2' },
          ],
          t.fence,
        );
        expect(second.written).toEqual([]);
        expect(await store.getTask(a!.id)).toMatchObject({ nodeName: 'n1', status: { state: 'assigned', node: 'n1' } });
        expect((await store.getTask(b!.id))?.status.state).toBe('pending');
        expect(await eventCount()).toBe(before);

        await create('web', [4]);
        const d = (await tasksOf('web')).find((x) => x.slot === 4)!;
        const third = await store.assignNodes([{ taskId: d.id, node: 'n2', orphan: { taskId: a!.id, message: 'node n1 down, replaced' } }], t.fence);
        expect([...third.written].sort()).toEqual([a!.id, d.id].sort());
        expect(await store.getTask(a!.id)).toMatchObject({ desiredState: 'shutdown', status: { state: 'orphaned', message: 'node n1 down, replaced' } });
        expect(await events(before)).toEqual([`task ${d.id} Scheduled: scheduled on n2`, `task ${a!.id} Orphaned: orphaned: node n1 down, replaced`]);
      });

      it('records why a task fits no node only when the explanation changed', async () => {
        await create('web', [1]);
        const [a] = await tasksOf('web');
        const first = await store.recordUnschedulable(new Map([[a!.id, '1 node: drained']]), t.fence);
        expect(first.written).toEqual([a!.id]);
        expect((await store.getTask(a!.id))?.status).toMatchObject({ state: 'pending', message: '1 node: drained' });
        const version = (await store.getTask(a!.id))!.resourceVersion;
        expect((await store.recordUnschedulable(new Map([[a!.id, '1 node: drained']]), t.fence)).written).toEqual([]);
        expect((await store.getTask(a!.id))!.resourceVersion).toBe(version);
        await store.assignNodes([{ taskId: a!.id, node: 'n1' }], t.fence);
        expect((await store.recordUnschedulable(new Map([[a!.id, 'later']]), t.fence)).written).toEqual([]);
      });

      it("takes an agent's reports forward only, and only for tasks on the reporting node", async () => {
        await create('web', [1, 2]);
        const [a, b] = await tasksOf('web');
        await store.assignNodes([{ taskId: a!.id, node: 'n1' }, { taskId: b!.id, node: 'n2' }], t.fence);
        const before = await eventCount();
        const at = '2026-01-01T00:00:01.000Z';
        await store.updateTaskStatuses('n1', [
          { taskId: a!.id, status: { state: 'preparing', updatedAt: at } },
          { taskId: a!.id, status: { state: 'running', pid: 42, updatedAt: at } },
          { taskId: b!.id, status: { state: 'running', updatedAt: at } },
          { taskId: 'web.9.gone', status: { state: 'running', updatedAt: at } },
        ]);
        expect((await store.getTask(a!.id))?.status).toMatchObject({ state: 'running', pid: 42, node: 'n1' });
        expect((await store.getTask(b!.id))?.status.state).toBe('assigned');
        await store.updateTaskStatuses('n1', [{ taskId: a!.id, status: { state: 'starting', updatedAt: at } }]);
        expect((await store.getTask(a!.id))?.status.state).toBe('running');
        await store.updateTaskStatuses('n1', [{ taskId: a!.id, status: { state: 'failed', exitCode: 3, updatedAt: at } }]);
        expect(await events(before)).toEqual([`task ${a!.id} Started: started on n1`, `task ${a!.id} Failed: failed: exited with code 3`]);
      });
    });

    describe('fencing', () => {
      it('writes nothing with a stale fence: every leader write fails with NotLeaderError', async () => {
        await store.applyServices([draft('web', { image: 'registry.test/web:1' })]);
        await store.applyServices([draft('web', { image: 'registry.test/web:2' })]);
        await create('web', [1, 2]);
        const [a, b] = await tasksOf('web');
        await store.registerNode(REGISTRATION);
        const stale = t.fence;
        const fence = await t.newTerm();
        const snapshot = async () => ({
          service: await store.getService('web'),
          tasks: await store.listTasks(),
          nodes: await store.listNodes(),
          statuses: await store.listServiceStatuses(),
          rollouts: await store.listRollouts(),
          events: await store.listEvents(),
        });
        const before = await snapshot();
        const status = { desired: 1, running: 0, updated: 0, observedGeneration: 1, updatedAt: 'x' };
        const writes: [string, () => Promise<unknown>][] = [
          ['applyTaskPlan', () => store.applyTaskPlan('web', { create: [{ slot: 3, specGeneration: 1, template: TEMPLATE }], shutdown: [a!.id], remove: [b!.id] }, stale)],
          ['assignNodes', () => store.assignNodes([{ taskId: a!.id, node: 'n1' }], stale)],
          ['recordUnschedulable', () => store.recordUnschedulable(new Map([[a!.id, 'no']]), stale)],
          ['putRollouts', () => store.putRollouts(new Map([['web', rollout(2)]]), stale)],
          ['restoreRevision', () => store.restoreRevision('web', 1, { cause: 'rollback', fence: stale, rollout, events: [] })],
          ['putServiceStatuses', () => store.putServiceStatuses(new Map([['web', status]]), stale)],
          ['deleteServiceStatuses', () => store.deleteServiceStatuses(['web'], stale)],
          ['writeNodeLiveness', () => store.writeNodeLiveness(new Map([['n1', '2026-01-01T00:00:00.000Z']]), stale)],
          ['trimEvents', () => store.trimEvents(stale, new Date(Date.now() + 400 * 24 * 3600_000))],
        ];
        for (const [what, write] of writes) await expect(write(), what).rejects.toBeInstanceOf(NotLeaderError);
        expect(await snapshot()).toEqual(before);
        // The new term's fence works.
        expect((await store.assignNodes([{ taskId: a!.id, node: 'n1' }], fence)).written).toEqual([a!.id]);
      });
    });

    describe('nodes', () => {
      it('registers a node active; a new Hello replaces what the agent says but keeps availability and operator labels', async () => {
        const registered = await store.registerNode(REGISTRATION);
        expect(registered).toMatchObject({ name: 'n1', labels: { zone: 'a', disk: 'ssd' }, availability: 'active', state: 'unknown', address: '10.0.0.1', drivers: ['runc'] });
        expect(await store.getNode('n1')).toEqual(registered);

        expect(await store.setNodeAvailability('n1', 'drain')).toMatchObject({ availability: 'drain' });
        const labeled = await store.setNodeLabels('n1', { set: { zone: 'b', rack: 'r1' }, remove: ['disk'] });
        expect(labeled.labels).toEqual({ zone: 'b', rack: 'r1' });
        expect(await store.getNode('n1')).toEqual(labeled);

        const again = await store.registerNode({ ...REGISTRATION, address: '10.0.0.2', labels: { zone: 'c', disk: 'hdd', os: 'linux' }, drivers: ['runc', 'qemu'] });
        expect(again).toMatchObject({ availability: 'drain', address: '10.0.0.2', drivers: ['runc', 'qemu'], labels: { zone: 'b', rack: 'r1', os: 'linux' } });
        expect(again.labels).not.toHaveProperty('disk');
        expect(await store.listNodes()).toEqual([again]);

        const relabeled = await store.setNodeLabels('n1', { set: { disk: 'nvme' }, remove: ['rack'] });
        expect(relabeled.labels).toEqual({ zone: 'b', disk: 'nvme', os: 'linux' });
        expect((await store.setNodeLabels('n1', { set: { disk: 'nvme' }, remove: [] })).labels).toEqual(relabeled.labels);
        expect(await store.setNodeAvailability('n1', 'active')).toMatchObject({ availability: 'active', labels: relabeled.labels });

        expect(await events()).toEqual([
          'node n1 Registered: registered (10.0.0.1; drivers runc)',
          'node n1 Drained: drained: its tasks move to other nodes',
          'node n1 Labeled: labels: zone=b, rack=r1, disk-',
          'node n1 Labeled: labels: disk=nvme, rack-',
          'node n1 Activated: activated: it takes new tasks again',
        ]);
      });

      it('refuses writes to a node that never registered with NotFoundError', async () => {
        await expect(store.setNodeAvailability('nope', 'pause')).rejects.toBeInstanceOf(NotFoundError);
        await expect(store.setNodeLabels('nope', { set: { a: 'b' }, remove: [] })).rejects.toBeInstanceOf(NotFoundError);
        await expect(store.removeNode('nope', {})).rejects.toBeInstanceOf(NotFoundError);
        expect(await store.getNode('nope')).toBeUndefined();
        expect(await eventCount()).toBe(0);
      });

      it('makes a node ready while a session holds it, and refuses to remove it then unless forced', async () => {
        await store.registerNode(REGISTRATION);
        const session = await store.openNodeSession('n1', 30);
        try {
          expect(await store.getNode('n1')).toMatchObject({ state: 'ready', sessionRevision: expect.any(String) });
          const refused = await store.removeNode('n1', {}).catch((e: unknown) => e);
          expect(refused).toBeInstanceOf(ConflictError);
          expect((refused as Error).message).toBe('node n1 is ready: stop its agent first (it is marked down once its lease runs out), or use --force');
          expect((await store.getNode('n1'))?.state).toBe('ready');
          await store.removeNode('n1', { force: true });
          expect(await store.getNode('n1')).toBeUndefined();
          expect(await store.listNodes()).toEqual([]);
          const log = await events();
          expect(log.slice(0, 2)).toEqual(['node n1 Registered: registered (10.0.0.1; drivers runc)', 'node n1 Ready: ready: its agent connected']);
          expect(log.at(-1)).toMatch(/^node n1 Removed: removed by the operator while ready/);
        } finally {
          session.close();
        }
      });

      it("records the leader's down verdicts, and forgets them with a removed node", async () => {
        await store.registerNode(REGISTRATION);
        const down = { kind: 'node', object: 'n1', node: 'n1', reason: 'Down', message: 'down: its agent is gone' } as const;
        await store.writeNodeLiveness(new Map([['n1', '2026-01-01T00:00:00.000Z']]), t.fence, [down]);
        expect(await store.getNode('n1')).toMatchObject({ state: 'down', downSince: '2026-01-01T00:00:00.000Z' });
        await store.writeNodeLiveness(new Map([['n1', undefined]]), t.fence);
        expect((await store.getNode('n1'))?.state).toBe('unknown');
        await store.writeNodeLiveness(new Map([['n1', '2026-01-01T00:00:00.000Z']]), t.fence);
        await store.setNodeLabels('n1', { set: { pinned: 'yes' }, remove: [] });

        await store.removeNode('n1', {});
        expect(await store.getNode('n1')).toBeUndefined();
        expect((await events()).at(-1)).toBe('node n1 Removed: removed by the operator; its tasks are replaced on other nodes');
        expect(await events()).toContain('node n1 Down: down: its agent is gone');
        // Registered again, it is a new node: no verdict, no operator labels.
        const back = await store.registerNode(REGISTRATION);
        expect(back).toMatchObject({ state: 'unknown', availability: 'active', labels: { zone: 'a', disk: 'ssd' } });
        expect(back).not.toHaveProperty('downSince');
      });
    });

    describe('event log and informers', () => {
      it('streams the retained events after an id, then new ones in commit order', async () => {
        await store.applyServices([draft('a')]);
        await store.applyServices([draft('b')]);
        const [first] = await store.listEvents();
        const stop = new AbortController();
        const seen: string[] = [];
        const watching = (async () => {
          for await (const e of store.watchEvents(first!.id, stop.signal)) {
            seen.push(e.object);
            if (seen.length === 2) stop.abort();
          }
        })();
        await vi.waitFor(() => expect(seen).toEqual(['b']), { timeout: 5_000 });
        await store.applyServices([draft('c')]);
        await watching;
        expect(seen).toEqual(['b', 'c']);
      });

      it('trims what falls outside the bound', async () => {
        await store.applyServices([draft('a'), draft('b')]);
        expect(await store.trimEvents(t.fence)).toBe(0);
        expect(await store.trimEvents(t.fence, new Date(Date.now() + 400 * 24 * 3600_000))).toBe(2);
        expect(await store.listEvents()).toEqual([]);
      });

      it('informers list (each listed object a put), then see puts and deletes', async () => {
        await store.applyServices([draft('old')]);
        const services = store.serviceInformer();
        const nodes = store.nodeInformer();
        const tasks = store.taskInformer();
        const seen: string[] = [];
        const note = (what: string) => (e: WatchEvent<unknown>) => seen.push(`${what} ${e.type} ${e.key}`);
        services.subscribe(note('service'));
        nodes.subscribe((e) => seen.push(`node ${e.type} ${e.key}${e.type === 'put' ? ` ${e.value.state}` : ''}`));
        tasks.subscribe(note('task'));
        const stop = new AbortController();
        const running = Promise.all([services.run(stop.signal), nodes.run(stop.signal), tasks.run(stop.signal)]);
        try {
          await Promise.all([services.synced(), nodes.synced(), tasks.synced()]);
          expect(services.list().map((s) => s.meta.name)).toEqual(['old']);
          expect(seen).toEqual(['service put old']); // what the informer listed
          seen.length = 0;

          await store.applyServices([draft('web')]);
          await store.deleteService('old');
          await vi.waitFor(() => expect(seen).toEqual(['service put web', 'service delete old']), { timeout: 5_000 });
          expect(services.get('web')).toEqual(await store.getService('web'));

          seen.length = 0;
          await create('web', [1]);
          const [task] = await tasksOf('web');
          await store.applyTaskPlan('web', { create: [], shutdown: [], remove: [task!.id] }, t.fence);
          await vi.waitFor(() => expect(seen).toEqual([`task put ${task!.id}`, `task delete ${task!.id}`]), { timeout: 5_000 });

          seen.length = 0;
          await store.registerNode(REGISTRATION);
          const session = await store.openNodeSession('n1', 30);
          // Record and alive key come from two watches on etcd: the node may be seen ready at once.
          await vi.waitFor(() => expect(seen.at(-1)).toBe('node put n1 ready'), { timeout: 5_000 });
          expect(nodes.get('n1')).toEqual(await store.getNode('n1'));
          await store.removeNode('n1', { force: true });
          session.close();
          await vi.waitFor(() => expect(seen.at(-1)).toBe('node delete n1'), { timeout: 5_000 });
          expect(nodes.list()).toEqual([]);
        } finally {
          stop.abort();
          await running;
        }
      });
    });
  });
}

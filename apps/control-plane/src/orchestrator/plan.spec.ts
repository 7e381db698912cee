import { describe, expect, it } from 'vitest';
import type { NodeInfo, Placement, Service, ServiceSpec, Task, TaskState } from '@berth/core';
import { node, service, settled, spec, T0, task } from './__fixtures__/plan-input';
import { planService, type PlannedTask, type ServicePlan } from './plan';

/** The task writes of a plan; the rollout record it carries is rollout.spec.ts's subject. Tasks placed here run on node a. */
const plan = (svc: Service | undefined, tasks: Task[], now = T0, nodes: NodeInfo[] = [node('a')]): ServicePlan => {
  const { rollout: _rollout, ...writes } = planService({ service: svc, tasks, nodes, now, rollout: settled });
  return writes;
};

describe('planService', () => {
  it('creates one task per missing slot', () => {
    expect(plan(service(), []).create.map((c) => c.slot)).toEqual([1, 2, 3]);
  });

  it('does nothing when every slot has a live task (level-triggered: same answer twice)', () => {
    const tasks = [task(1, 'running'), task(2, 'assigned'), task(3, 'pending')];
    expect(plan(service(), tasks)).toEqual({ create: [], shutdown: [], remove: [] });
  });

  it('scales down by stopping the highest slots', () => {
    const tasks = [1, 2, 3].map((s) => task(s, 'running'));
    const p = plan(service({ replicas: 1 }), tasks);
    expect(p.shutdown).toEqual([tasks[1]!.id, tasks[2]!.id]);
    expect(p.create).toEqual([]);
  });

  it('restarts a failed task as a new task in the same slot after the delay', () => {
    const failed = task(2, 'failed', { status: { state: 'failed', exitCode: 1, updatedAt: new Date(T0).toISOString() } });
    const tasks = [task(1, 'running'), failed, task(3, 'running')];
    expect(plan(service(), tasks, T0 + 200)).toMatchObject({ create: [], requeueAfterMs: 800 });
    const p = plan(service(), tasks, T0 + 1000);
    expect(p.create).toEqual([{ slot: 2, specGeneration: 1 }]);
    expect(p.shutdown).toEqual([failed.id]);
  });

  it('replaces a task a node rejected, like a failed one: after the backoff, even under on-failure', () => {
    const rejected = task(1, 'rejected', {
      nodeName: 'a',
      status: { state: 'rejected', message: 'host port 18080/tcp is already in use on node a', updatedAt: new Date(T0).toISOString() },
    });
    const svc = service({ replicas: 1, restartPolicy: { condition: 'on-failure', delayMs: 1000, maxDelayMs: 30_000, maxAttempts: 0 } });
    expect(plan(svc, [rejected], T0 + 200)).toMatchObject({ create: [], requeueAfterMs: 800 });
    const p = plan(svc, [rejected], T0 + 1000);
    expect(p.create).toEqual([{ slot: 1, specGeneration: 1 }]); // no node: the scheduler chooses again
    expect(p.shutdown).toEqual([rejected.id]);
  });

  it('replaces a task its agent stopped as unhealthy, like any failure, also under on-failure', () => {
    const message = 'health check failed 3 times in a row: exited with code 1';
    const unhealthy = task(1, 'failed', { status: { state: 'failed', health: 'unhealthy', exitCode: 137, message, updatedAt: new Date(T0).toISOString() } });
    const svc = service({ replicas: 1, restartPolicy: { condition: 'on-failure', delayMs: 1000, maxDelayMs: 30_000, maxAttempts: 0 } });
    expect(plan(svc, [unhealthy], T0 + 1000)).toEqual({ create: [{ slot: 1, specGeneration: 1 }], shutdown: [unhealthy.id], remove: [] });
  });

  it('backs off exponentially up to maxDelay', () => {
    const ended = (n: number) => Array.from({ length: n }, () => task(1, 'failed', { desiredState: 'shutdown' }));
    const svc = service({ replicas: 1 });
    const last = (n: number) => {
      const ts = ended(n);
      ts[ts.length - 1] = { ...ts[ts.length - 1]!, desiredState: 'running' };
      return ts;
    };
    expect(plan(svc, last(1), T0).requeueAfterMs).toBe(1000);
    expect(plan(svc, last(2), T0).requeueAfterMs).toBe(2000);
    expect(plan(svc, last(4), T0).requeueAfterMs).toBe(8000);
    expect(plan(svc, last(10), T0).requeueAfterMs).toBe(30_000);
  });

  it('honours restart conditions and maxAttempts', () => {
    const done = task(1, 'complete', { status: { state: 'complete', exitCode: 0, updatedAt: new Date(T0).toISOString() } });
    expect(plan(service({ replicas: 1, restartPolicy: { condition: 'on-failure', delayMs: 0, maxDelayMs: 0, maxAttempts: 0 } }), [done]).create).toEqual([]);
    expect(plan(service({ replicas: 1, restartPolicy: { condition: 'none', delayMs: 0, maxDelayMs: 0, maxAttempts: 0 } }), [task(1, 'failed')]).create).toEqual([]);
    const policy = { condition: 'any' as const, delayMs: 0, maxDelayMs: 0, maxAttempts: 2 };
    const history = [task(1, 'failed', { desiredState: 'shutdown' }), task(1, 'failed', { desiredState: 'shutdown' }), task(1, 'failed')];
    const gaveUp = plan(service({ replicas: 1, restartPolicy: policy }), history);
    expect(gaveUp.create).toEqual([]);
    expect(gaveUp.shutdown).toEqual([history[2]!.id]);
  });

  it('replaces a task the orchestrator stopped (scale down then up) at once', () => {
    const stopped = task(2, 'shutdown', { desiredState: 'shutdown' });
    expect(plan(service({ replicas: 2 }), [task(1, 'running'), stopped]).create).toEqual([{ slot: 2, specGeneration: 1 }]);
  });

  it('rolls an update one slot at a time (stop-first)', () => {
    const tasks = [1, 2, 3].map((s) => task(s, 'running'));
    const p1 = plan(service({}, 2), tasks);
    expect(p1.shutdown).toEqual([tasks[0]!.id]);
    expect(p1.create).toEqual([{ slot: 1, specGeneration: 2 }]);
    // Slot 1's replacement is still starting: nothing else moves.
    const replaced = [{ ...tasks[0]!, desiredState: 'shutdown' as const }, task(1, 'starting', { specGeneration: 2 }), tasks[1]!, tasks[2]!];
    expect(plan(service({}, 2), replaced)).toEqual({ create: [], shutdown: [], remove: [] });
  });

  it('start-first keeps the old task until its replacement runs', () => {
    const svc = service({ replicas: 1, update: { parallelism: 1, delayMs: 0, monitorMs: 0, maxFailureRatio: 0, failureAction: 'pause', order: 'start-first' } }, 2);
    const old = task(1, 'running');
    expect(plan(svc, [old])).toEqual({ create: [{ slot: 1, specGeneration: 2 }], shutdown: [], remove: [] });
    expect(plan(svc, [old, task(1, 'running', { specGeneration: 2 })]).shutdown).toEqual([old.id]);
  });

  it('start-first keeps the old task until a replacement with a health check is healthy', () => {
    const healthCheck = { exec: ['true'], intervalMs: 1000, timeoutMs: 1000, retries: 3, startPeriodMs: 0 };
    const update = { parallelism: 1, delayMs: 0, monitorMs: 0, maxFailureRatio: 0, failureAction: 'pause' as const, order: 'start-first' as const };
    const svc = service({ replicas: 1, template: { ...spec().template, image: 'oci:/img:2', healthCheck }, update }, 2);
    const old = { ...task(1, 'running'), template: spec().template };
    const fresh = (health: 'starting' | 'healthy') => {
      const t = task(1, 'running', { specGeneration: 2 });
      return { ...t, status: { ...t.status, health }, template: svc.spec.template };
    };
    expect(plan(svc, [old, fresh('starting')])).toEqual({ create: [], shutdown: [], remove: [] });
    expect(plan(svc, [old, fresh('healthy')]).shutdown).toEqual([old.id]);
  });

  it('stops everything of a deleted service, then forgets its records', () => {
    const tasks = [task(1, 'running'), task(2, 'failed', { desiredState: 'shutdown' })];
    expect(plan(undefined, tasks)).toEqual({ create: [], shutdown: [tasks[0]!.id], remove: [] });
    const stopped = [{ ...tasks[0]!, desiredState: 'shutdown' as const, status: { state: 'shutdown' as const, updatedAt: '' } }, tasks[1]!];
    expect([...plan(undefined, stopped).remove].sort()).toEqual(stopped.map((t) => t.id).sort());
  });

  it('keeps a bounded history of finished tasks per slot', () => {
    const history = Array.from({ length: 8 }, () => task(1, 'failed', { desiredState: 'shutdown' }));
    const p = planService({ service: service({ replicas: 1 }), tasks: [...history, task(1, 'running')], nodes: [], now: T0, historyPerSlot: 5 });
    expect(p.remove).toEqual(history.slice(0, 3).map((t) => t.id).reverse());
  });

  it('scaling replaces no task: only a changed template outdates one', () => {
    const v1 = service({ replicas: 2 });
    const tasks = [1, 2].map((s) => ({ ...task(s, 'running'), template: v1.spec.template }));
    const bumped = service({ replicas: 3 }, 2);
    const scaled = { ...bumped, meta: { ...bumped.meta, revision: 1 } }; // generation bumped, same revision and template
    expect(plan(scaled, tasks)).toEqual({ create: [{ slot: 3, specGeneration: 2 }], shutdown: [], remove: [] });
    const updated = service({ replicas: 2, template: { ...v1.spec.template, image: 'oci:/img:2' } }, 3);
    const p = plan(updated, tasks);
    expect(p.shutdown).toEqual([tasks[0]!.id]);
    expect(p.create).toEqual([{ slot: 1, specGeneration: 3 }]);
  });

  it('a change of constraints or spreadBy outdates a task (a rolling update); maxPerNode and strategy do not', () => {
    const v1 = service({ replicas: 1 });
    const running = { ...task(1, 'running', { nodeName: 'a' }), template: v1.spec.template, placement: v1.spec.placement };
    const respec = (placement: Partial<Placement>) => service({ replicas: 1, placement: { ...v1.spec.placement, ...placement } }, 2);
    expect(plan(respec({ maxPerNode: 3, strategy: 'binpack' }), [running])).toMatchObject({ create: [], shutdown: [], remove: [] });
    for (const changed of [respec({ constraints: ['node.labels.zone == a'] }), respec({ spreadBy: 'node.labels.zone' })]) {
      const p = plan(changed, [running]);
      expect(p.shutdown).toEqual([running.id]);
      expect(p.create).toEqual([{ slot: 1, specGeneration: 2 }]);
    }
    // Constraints are a set: their order changes nothing. A record stored without a placement is not outdated by one.
    const two = service({ replicas: 1, placement: { ...v1.spec.placement, constraints: ['node.name != b', 'node.labels.zone == a'] } });
    const placedByTwo = { ...running, placement: two.spec.placement };
    expect(plan(respec({ constraints: ['node.labels.zone == a', 'node.name != b'] }), [placedByTwo]).shutdown).toEqual([]);
    const { placement: _none, ...legacy } = running;
    expect(plan(respec({ constraints: ['node.labels.zone == a'] }), [legacy]).shutdown).toEqual([]);
  });

  it('forgets tasks no node ever got instead of waiting for them to stop', () => {
    const pending = task(3, 'pending');
    const onNode = task(1, 'running', { nodeName: 'a' });
    expect(plan(service({ replicas: 1 }), [onNode, task(2, 'running', { nodeName: 'a' }), pending]).remove).toEqual([pending.id]);
    expect(plan(undefined, [onNode, pending])).toEqual({ create: [], shutdown: [onNode.id], remove: [pending.id] });
  });

  it('global mode runs one task per active node, created pending for it: the scheduler places it', () => {
    const nodes = [node('a'), node('b'), node('c', { availability: 'drain' })];
    const p = plan(service({ mode: 'global' }), [], T0, nodes);
    expect(p.create).toEqual([{ slot: 1, specGeneration: 1, targetNode: 'a' }, { slot: 2, specGeneration: 1, targetNode: 'b' }]);
    expect(p.create.some((c) => 'nodeName' in c)).toBe(false); // only the scheduler writes nodeName
    const onA = task(1, 'running', { nodeName: 'a', targetNode: 'a' });
    const onC = task(7, 'running', { nodeName: 'c', targetNode: 'c' });
    const p2 = plan(service({ mode: 'global' }), [onA, onC], T0, nodes);
    expect(p2.create).toEqual([{ slot: 8, specGeneration: 1, targetNode: 'b' }]);
    expect(p2.shutdown).toEqual([onC.id]);
  });
});

describe('planService, global mode: one slot per node the scheduler would consider', () => {
  const global = (placement: Partial<Placement> = {}, over: Partial<ServiceSpec> = {}) =>
    service({ mode: 'global', replicas: 0, placement: { ...spec().placement, ...placement }, ...over });
  const on = (slot: number, name: string, state: TaskState = 'running', over: Partial<PlannedTask> = {}) =>
    task(slot, state, { ...(state === 'pending' ? {} : { nodeName: name }), targetNode: name, ...over });

  it('wants only the nodes that meet the constraints, and retires the task of a node relabelled out of them', () => {
    const zoned = global({ constraints: ['node.labels.zone == x'] });
    const nodes = [node('a', { labels: { zone: 'x' } }), node('b', { labels: { zone: 'y' } }), node('c')];
    expect(plan(zoned, [], T0, nodes).create).toEqual([{ slot: 1, specGeneration: 1, targetNode: 'a' }]);
    const onA = on(1, 'a');
    const relabelled = [node('a', { labels: { zone: 'y' } }), node('b', { labels: { zone: 'x' } }), node('c')];
    const p = plan(zoned, [onA], T0, relabelled);
    expect(p.shutdown).toEqual([onA.id]);
    expect(p.create).toEqual([{ slot: 2, specGeneration: 1, targetNode: 'b' }]);
  });

  it('wants only the nodes that serve its runtime', () => {
    const vm = global({}, { template: { ...spec().template, runtime: 'vm', vm: { vcpus: 1 } } });
    const nodes = [node('a'), node('b', { drivers: ['runc', 'qemu'] })];
    expect(plan(vm, [], T0, nodes).create).toEqual([{ slot: 1, specGeneration: 1, targetNode: 'b' }]);
  });

  it('gives a node a slot once it joins or becomes eligible, and takes it when the node is drained or removed', () => {
    const svc = global();
    const onA = on(1, 'a');
    expect(plan(svc, [onA], T0, [node('a')])).toEqual({ create: [], shutdown: [], remove: [] });
    expect(plan(svc, [onA], T0, [node('a'), node('b')]).create).toEqual([{ slot: 2, specGeneration: 1, targetNode: 'b' }]);
    expect(plan(svc, [onA], T0, [node('a', { availability: 'drain' })]).shutdown).toEqual([onA.id]);
    expect(plan(svc, [onA], T0, [node('b')]).shutdown).toEqual([onA.id]); // a's record is gone
    // Stopped there, it can never report its end: its record is forgotten.
    const stopping = { ...onA, desiredState: 'shutdown' as const };
    expect(plan(svc, [stopping], T0, [node('b')]).remove).toEqual([stopping.id]);
    expect(plan(undefined, [onA], T0, [node('b')])).toEqual({ create: [], shutdown: [], remove: [onA.id] });
    // A task its node never got is forgotten at once.
    const waiting = on(1, 'a', 'pending');
    expect(plan(svc, [waiting], T0, [node('b')]).remove).toEqual([waiting.id]);
  });

  it('keeps the slot of a node that is down or unknown, and gives none to one that has none', () => {
    const svc = global();
    const onA = on(1, 'a');
    const nodes = [node('a', { state: 'down', downSince: new Date(T0).toISOString() }), node('b', { state: 'unknown' })];
    expect(plan(svc, [onA], T0, nodes)).toEqual({ create: [], shutdown: [], remove: [] });
    const onB = on(2, 'b');
    expect(plan(svc, [onA, onB], T0, nodes)).toEqual({ create: [], shutdown: [], remove: [] });
    // Down, but no longer meeting the constraints: the slot goes (its node stops the task when back).
    expect(plan(global({ constraints: ['node.name != a'] }), [onA, onB], T0, nodes).shutdown).toEqual([onA.id]);
  });

  it('leaves a task its node cannot take pending with the scheduler\'s reason: nothing churns', () => {
    const waiting = on(1, 'a', 'pending', { status: { state: 'pending', message: '1 node: insufficient memory (needs 64Mi)', updatedAt: new Date(T0).toISOString() } });
    expect(plan(global(), [waiting], T0, [node('a')])).toEqual({ create: [], shutdown: [], remove: [] });
  });

  it('restarts a failed task on the same node, as a new pending task for it', () => {
    const failed = on(1, 'a', 'failed', { status: { state: 'failed', exitCode: 1, updatedAt: new Date(T0).toISOString() } });
    const p = plan(global(), [failed], T0 + 1000, [node('a')]);
    expect(p.create).toEqual([{ slot: 1, specGeneration: 1, targetNode: 'a' }]);
    expect(p.shutdown).toEqual([failed.id]);
  });

  it('keeps the slots of tasks created before targets existed, by their node', () => {
    const pinned = task(3, 'running', { nodeName: 'a' });
    expect(plan(global(), [pinned], T0, [node('a'), node('b')]).create).toEqual([{ slot: 4, specGeneration: 1, targetNode: 'b' }]);
  });
});

import { describe, expect, it } from 'vitest';
import type { NodeInfo, Service, ServiceSpec, Task, TaskState } from '@berth/core';
import { node, service as baseService, settled, T0, task as baseTask } from './__fixtures__/plan-input';
import { FENCING_MARGIN_MS, planService, type PlannedTask } from './plan';

const GRACE = 10_000;
const service = (over: Partial<ServiceSpec> = {}): Service => {
  const base = baseService({ replicas: 2, ...over });
  return { ...base, spec: { ...base.spec, template: { ...base.spec.template, stopGracePeriodMs: GRACE } } };
};
/** A task of `web` on `nodeName` (or not placed yet). */
const task = (slot: number, nodeName: string | undefined, state: TaskState = 'running', over: Partial<PlannedTask> = {}): PlannedTask =>
  baseTask(slot, state, { ...(nodeName ? { nodeName } : {}), ...over });
const down = (name: string, since = T0): NodeInfo => node(name, { state: 'down', downSince: new Date(since).toISOString() });

const plan = (svc: Service, tasks: Task[], nodes: NodeInfo[], now = T0) => {
  const { rollout: _rollout, ...writes } = planService({ service: svc, tasks, nodes, now, rollout: settled });
  return writes;
};

describe('failover: tasks of a down node', () => {
  it('are replaced in the same slot at once, each replacement naming the task it replaces', () => {
    const a = task(1, 'n1');
    const b = task(2, 'n2');
    const p = plan(service(), [a, b], [node('n1'), down('n2')]);
    expect(p.create).toEqual([{ slot: 2, specGeneration: 1, replaces: b.id }]);
    expect(p.shutdown).toEqual([]);
    expect(p.requeueAfterMs).toBeUndefined(); // no restart backoff for a node loss
  });

  it('are left alone while their node is unknown (the grace after a leader change)', () => {
    const p = plan(service(), [task(1, 'n1'), task(2, 'n2')], [node('n1'), node('n2', { state: 'unknown' })]);
    expect(p).toEqual({ create: [], shutdown: [], remove: [] });
  });

  it('get one replacement only: nothing more while it is pending or on its way', () => {
    const b = task(2, 'n2');
    const r = task(2, undefined, 'pending', { replaces: b.id });
    expect(plan(service(), [task(1, 'n1'), b, r], [node('n1'), down('n2')])).toEqual({ create: [], shutdown: [], remove: [] });
  });

  it('keep their waiting replacement while their node is unknown (a new leader has not heard from it yet)', () => {
    const b = task(2, 'n2');
    const r = task(2, undefined, 'pending', { replaces: b.id });
    expect(plan(service(), [task(1, 'n1'), b, r], [node('n1'), node('n2', { state: 'unknown' })])).toEqual({ create: [], shutdown: [], remove: [] });
  });

  it('are kept when their node returns before the replacement was placed: the replacement goes', () => {
    const b = task(2, 'n2');
    const r = task(2, undefined, 'pending', { replaces: b.id });
    const p = plan(service(), [task(1, 'n1'), b, r], [node('n1'), node('n2')]);
    expect(p.remove).toEqual([r.id]);
    expect(p.shutdown).toEqual([]);
    expect(p.create).toEqual([]);
  });

  it('of a fenced service are replaced only once the cut-off agent has surely stopped them', () => {
    const b = task(2, 'n2', 'running', { fenced: true, template: service().spec.template });
    const svc = service({ fencing: true });
    const nodes = [node('n1'), down('n2', T0)];
    const waitMs = GRACE + FENCING_MARGIN_MS;
    const early = plan(svc, [task(1, 'n1'), b], nodes, T0 + 1000);
    expect(early.create).toEqual([]);
    expect(early.requeueAfterMs).toBe(waitMs - 1000);
    expect(plan(svc, [task(1, 'n1'), b], nodes, T0 + waitMs).create).toEqual([{ slot: 2, specGeneration: 1, replaces: b.id }]);
  });

  it('of a fenced service that their node stopped while cut off come back whatever the restart policy', () => {
    const stopped = task(1, 'n1', 'shutdown', { fenced: true });
    const p = plan(service({ replicas: 1, fencing: true, restartPolicy: { condition: 'none', delayMs: 1000, maxDelayMs: 1000, maxAttempts: 0 } }), [stopped], [node('n1')]);
    expect(p.create).toEqual([{ slot: 1, specGeneration: 1 }]);
    expect(p.shutdown).toEqual([stopped.id]);
  });

  it('do not count as restart attempts', () => {
    const orphaned = task(1, 'n2', 'orphaned', { desiredState: 'shutdown' });
    const failed = task(1, 'n1', 'failed');
    // One crash in the slot (the orphan is not one): the backoff is the first delay, 1 s.
    const p = plan(service({ replicas: 1 }), [orphaned, failed], [node('n1'), down('n2')], T0 + 500);
    expect(p.requeueAfterMs).toBe(500);
  });

  it('of a global service are left where they are: nowhere else could run them', () => {
    const g = task(1, 'n2', 'running', { targetNode: 'n2' });
    const p = plan(service({ mode: 'global', replicas: 0 }), [g], [node('n1'), down('n2')]);
    expect(p.shutdown).toEqual([]);
    expect(p.create).toEqual([{ slot: 2, specGeneration: 1, targetNode: 'n1' }]);
  });
});

describe('tasks of a removed node (its record deleted: berth node rm)', () => {
  it('are lost, like those of a down node: replaced in the same slot at once', () => {
    const a = task(1, 'n1');
    const b = task(2, 'gone');
    const p = plan(service(), [a, b], [node('n1')]);
    expect(p.create).toEqual([{ slot: 2, specGeneration: 1, replaces: b.id }]);
    expect(p.shutdown).toEqual([]);
  });

  it('of a fenced service are replaced at once too: no record is left to time a wait from', () => {
    const b = task(1, 'gone', 'running', { fenced: true });
    const p = plan(service({ replicas: 1, fencing: true }), [b], [node('n1')]);
    expect(p.create).toEqual([{ slot: 1, specGeneration: 1, replaces: b.id }]);
    expect(p.requeueAfterMs).toBeUndefined();
  });

  it('keep their slot to the pair until the replacement is placed, then to the replacement alone', () => {
    const b = task(1, 'gone');
    const r = task(1, undefined, 'pending', { replaces: b.id });
    expect(plan(service({ replicas: 1 }), [b, r], [node('n1')])).toEqual({ create: [], shutdown: [], remove: [] });
    // The scheduler orphans the original as it places the replacement: the slot then has one task.
    const orphaned = { ...b, desiredState: 'shutdown' as const, status: { ...b.status, state: 'orphaned' as const } };
    const placed = { ...r, nodeName: 'n1', status: { state: 'running' as const, node: 'n1', updatedAt: r.status.updatedAt } };
    expect(plan(service({ replicas: 1 }), [orphaned, placed], [node('n1')])).toEqual({ create: [], shutdown: [], remove: [] });
  });

  it('of a global service are retired with their slot', () => {
    const g = task(1, 'gone', 'running', { targetNode: 'gone' });
    const p = plan(service({ mode: 'global', replicas: 0 }), [g], [node('n1')]);
    expect(p.shutdown).toEqual([g.id]);
    expect(p.create).toEqual([{ slot: 2, specGeneration: 1, targetNode: 'n1' }]);
  });
});

describe('drain: tasks of a draining node', () => {
  const draining = (name: string) => node(name, { availability: 'drain' });

  it('get a replacement started elsewhere first, update.parallelism at a time', () => {
    const a = task(1, 'n1');
    const b = task(2, 'n1');
    const p = plan(service(), [a, b], [draining('n1'), node('n2')]);
    expect(p.create).toEqual([{ slot: 1, specGeneration: 1, replaces: a.id }]);
    expect(p.shutdown).toEqual([]);
    const all = plan(service({ update: { parallelism: 0, delayMs: 0, monitorMs: 0, maxFailureRatio: 0, failureAction: 'pause', order: 'stop-first' } }), [a, b], [draining('n1'), node('n2')]);
    expect(all.create.map((c) => c.replaces)).toEqual([a.id, b.id]);
  });

  it('stop once their replacement is up, and the next one moves', () => {
    const a = task(1, 'n1');
    const b = task(2, 'n1');
    const ra = task(1, 'n2', 'running', { replaces: a.id });
    const p = plan(service(), [a, b, ra], [draining('n1'), node('n2')]);
    expect(p.shutdown).toEqual([a.id]);
    expect(p.create).toEqual([{ slot: 2, specGeneration: 1, replaces: b.id }]);
  });

  it('keep running while the replacement is not up (starting, or unhealthy)', () => {
    const a = task(1, 'n1');
    const ra = task(1, 'n2', 'starting', { replaces: a.id });
    const p = plan(service({ replicas: 1 }), [a, ra], [draining('n1'), node('n2')]);
    expect(p).toEqual({ create: [], shutdown: [], remove: [] });
  });

  it('a replacement that fits nowhere does not hold up the others', () => {
    const a = task(1, 'n1');
    const b = task(2, 'n1');
    const ra = task(1, undefined, 'pending', { replaces: a.id, status: { state: 'pending', message: '1 node: drained', updatedAt: '' } });
    const p = plan(service(), [a, b, ra], [draining('n1'), node('n2')]);
    expect(p.create).toEqual([{ slot: 2, specGeneration: 1, replaces: b.id }]);
  });

  it('stay, and their replacements go, when the node is activated again', () => {
    const a = task(1, 'n1');
    const ra = task(1, 'n2', 'running', { replaces: a.id });
    const p = plan(service({ replicas: 1 }), [a, ra], [node('n1'), node('n2')]);
    expect(p.shutdown).toEqual([ra.id]);
  });
});

import { describe, expect, it } from 'vitest';
import type { Rollout, RolloutControl, Service, ServiceSpec, TaskStatus, TaskTemplate, UpdateConfig } from '@berth/core';
import { iso, node, runningSince, service, settled, spec, T0, task } from './__fixtures__/plan-input';
import { planService, type PlannedTask, type ServicePlan } from './plan';
import { rollbackRollout } from './rollout';

const HOUR = 3_600_000;
const v1 = spec().template;
const v2: TaskTemplate = { ...v1, image: 'oci:/img:2' };
const update = (over: Partial<UpdateConfig> = {}): UpdateConfig => ({ ...spec().update, ...over });

/** Revision 2 of `web`: 4 replicas going from image 1 to image 2 (monitor 5s, restart backoff 1s). */
const v2Service = (u: Partial<UpdateConfig> = {}, over: Partial<ServiceSpec> = {}): Service => service({ replicas: 4, template: v2, update: update(u), ...over }, 2);
const withControl = (svc: Service, control: RolloutControl): Service => ({ ...svc, meta: { ...svc.meta, rolloutControl: control } });

/** The 4 tasks of revision 1, up for an hour. */
const olds = (n = 4): PlannedTask[] => Array.from({ length: n }, (_, i) => runningSince(i + 1, T0 - HOUR, v1));
/** A replacement of revision 2 running since `since`. */
const fresh = (slot: number, since: number): PlannedTask => runningSince(slot, since, v2, { specGeneration: 2 });
/** A task berth stopped, stopped by its agent. */
const stopped = (t: PlannedTask, at = T0): PlannedTask => ({ ...t, desiredState: 'shutdown', status: { ...t.status, state: 'shutdown', updatedAt: iso(at) } });
/** A replacement of revision 2 that ended at `endedAt` (exit code 3 unless told), after starting at `startedAt`. */
const failedNew = (slot: number, startedAt: number | undefined, endedAt: number, over: Partial<TaskStatus> = {}): PlannedTask => ({
  ...task(slot, 'failed', { specGeneration: 2, nodeName: 'a' }),
  template: v2,
  status: { state: 'failed', node: 'a', exitCode: 3, ...(startedAt === undefined ? {} : { startedAt: iso(startedAt) }), updatedAt: iso(endedAt), ...over },
});

const run = (svc: Service, tasks: readonly PlannedTask[], now: number, rollout?: Rollout): ServicePlan =>
  planService({ service: svc, tasks, nodes: [node('a')], now, ...(rollout ? { rollout } : {}) });
/** Where the rollout stands after a plan: the record it writes, else the stored one. */
const recordOf = (p: ServicePlan, stored: Rollout): Rollout => p.rollout ?? stored;
/** The record of revision 2 as its first plan (at T0) writes it. */
const startedRecord = (svc: Service, tasks: readonly PlannedTask[]): Rollout => run(svc, tasks, T0, settled).rollout!;

describe('rolling update (planService)', () => {
  it('an update of 4 replicas, one at a time, stops slot 1 and creates its replacement first', () => {
    const tasks = olds();
    const p = run(v2Service(), tasks, T0, settled);
    expect(p.shutdown).toEqual([tasks[0]!.id]);
    expect(p.create).toEqual([{ slot: 1, specGeneration: 2 }]);
    expect(p.rollout).toMatchObject({ revision: 2, state: 'updating', previousRevision: 1, total: 4, updated: 0, failed: 0, startedAt: iso(T0) });
  });

  it('a replacement up for less than the monitor keeps its slot in flight; the next slot starts once it is monitored', () => {
    const svc = v2Service();
    const [o1, o2, o3, o4] = olds();
    const r = startedRecord(svc, [o1!, o2!, o3!, o4!]);
    const tasks = [stopped(o1!), fresh(1, T0 + 1000), o2!, o3!, o4!];
    expect(run(svc, tasks, T0 + 3000, r)).toEqual({ create: [], shutdown: [], remove: [], requeueAfterMs: 3000 });
    const after = run(svc, tasks, T0 + 6000, r);
    expect(after.shutdown).toEqual([o2!.id]);
    expect(after.create).toEqual([{ slot: 2, specGeneration: 2 }]);
    expect(after.rollout).toMatchObject({ state: 'updating', updated: 1 });
  });

  it('a health-checked replacement is monitored from when it became healthy, not from its start', () => {
    const healthCheck = { exec: ['true'], intervalMs: 1000, timeoutMs: 1000, retries: 3, startPeriodMs: 0 };
    const checked = { ...v2, healthCheck };
    const svc = service({ replicas: 4, template: checked }, 2);
    const [o1, o2, o3, o4] = olds();
    const r = startedRecord(svc, [o1!, o2!, o3!, o4!]);
    const started = runningSince(1, T0 + 1000, checked, { specGeneration: 2 });
    const healthy = { ...started, status: { ...started.status, health: 'healthy' as const, updatedAt: iso(T0 + 4000) } };
    const tasks = [stopped(o1!), healthy, o2!, o3!, o4!];
    expect(run(svc, tasks, T0 + 7000, r)).toMatchObject({ create: [], shutdown: [], requeueAfterMs: 2000 });
    expect(run(svc, tasks, T0 + 9000, r).create).toEqual([{ slot: 2, specGeneration: 2 }]);
  });

  it('with a delay, the next slot starts no sooner than the delay after the previous replacement was updated', () => {
    const svc = v2Service({ delayMs: 10_000 });
    const [o1, o2, o3, o4] = olds();
    const r = startedRecord(svc, [o1!, o2!, o3!, o4!]);
    const tasks = [stopped(o1!), fresh(1, T0 + 1000), o2!, o3!, o4!]; // updated at T0 + 6s
    expect(run(svc, tasks, T0 + 7000, r)).toMatchObject({ create: [], shutdown: [], requeueAfterMs: 9000 });
    expect(run(svc, tasks, T0 + 15_999, r).create).toEqual([]);
    const p = run(svc, tasks, T0 + 16_000, r);
    expect(p.create).toEqual([{ slot: 2, specGeneration: 2 }]);
    expect(p.shutdown).toEqual([o2!.id]);
  });

  it('parallelism 2 replaces two slots at a time, and starts a third as soon as one of them is updated', () => {
    const svc = v2Service({ parallelism: 2 });
    const [o1, o2, o3, o4] = olds();
    const first = run(svc, [o1!, o2!, o3!, o4!], T0, settled);
    expect(first.shutdown).toEqual([o1!.id, o2!.id]);
    expect(first.create.map((c) => c.slot)).toEqual([1, 2]);
    const r = first.rollout!;
    const tasks = [stopped(o1!), fresh(1, T0 + 1000), stopped(o2!), fresh(2, T0 + 3000), o3!, o4!];
    const p = run(svc, tasks, T0 + 6000, r);
    expect(p.shutdown).toEqual([o3!.id]);
    expect(p.create).toEqual([{ slot: 3, specGeneration: 2 }]);
    expect(p.requeueAfterMs).toBe(2000); // slot 2's monitor
  });

  it('parallelism 0 replaces every slot at once', () => {
    const tasks = olds();
    const p = run(v2Service({ parallelism: 0 }), tasks, T0, settled);
    expect(p.shutdown).toEqual(tasks.map((t) => t.id));
    expect(p.create.map((c) => c.slot)).toEqual([1, 2, 3, 4]);
  });

  it('start-first keeps the old task until its replacement has been up for the monitor, then retires it', () => {
    const svc = v2Service({ order: 'start-first' });
    const [o1, o2, o3, o4] = olds();
    const first = run(svc, [o1!, o2!, o3!, o4!], T0, settled);
    expect(first).toMatchObject({ create: [{ slot: 1, specGeneration: 2 }], shutdown: [] });
    const r = first.rollout!;
    const tasks = [o1!, fresh(1, T0 + 1000), o2!, o3!, o4!];
    expect(run(svc, tasks, T0 + 5999, r)).toEqual({ create: [], shutdown: [], remove: [], requeueAfterMs: 1 });
    const p = run(svc, tasks, T0 + 6000, r);
    expect(p.shutdown).toEqual([o1!.id]); // slot 2's old task stays: start-first
    expect(p.create).toEqual([{ slot: 2, specGeneration: 2 }]);
  });

  it('start-first retries a failing replacement only after the restart backoff, and the old task keeps serving', () => {
    // A ratio of 1 tolerates the failures here, so the rollout keeps updating.
    const svc = v2Service({ order: 'start-first', maxFailureRatio: 1 });
    const [o1, o2, o3, o4] = olds();
    const r = startedRecord(svc, [o1!, o2!, o3!, o4!]);
    const f = failedNew(1, T0 + 1000, T0 + 2000);
    const tasks = [o1!, f, o2!, o3!, o4!];
    // The plan that sees the failure: nothing created, nothing stopped, back after the backoff (1s).
    expect(run(svc, tasks, T0 + 2000, r)).toMatchObject({ create: [], shutdown: [], requeueAfterMs: 1000 });
    expect(run(svc, tasks, T0 + 2999, r).create).toEqual([]);
    const retry = run(svc, tasks, T0 + 3000, r);
    expect(retry.create).toEqual([{ slot: 1, specGeneration: 2 }]); // slot 1 only: it is still in flight
    expect(retry.shutdown).not.toContain(o1!.id);
    expect(retry.shutdown).toEqual([f.id]); // the failed attempt is recorded as given up, so history trimming sees it
    expect(recordOf(retry, r)).toMatchObject({ state: 'updating', failed: 1 });
  });

  it('a failed replacement pauses the update (default), naming the task and its exit code; the pause is sticky until resumed', () => {
    const svc = v2Service();
    const [o1, o2, o3, o4] = olds();
    const r = startedRecord(svc, [o1!, o2!, o3!, o4!]);
    const f = failedNew(1, T0 + 1000, T0 + 2000);
    const failing = [stopped(o1!), f, o2!, o3!, o4!];
    const atFailure = run(svc, failing, T0 + 2000, r);
    expect(atFailure.rollout).toMatchObject({ state: 'paused', failed: 1, pausedAt: iso(T0 + 2000) });
    expect(atFailure.rollout!.reason).toContain(f.id);
    expect(atFailure.rollout!.reason).toContain('exited with code 3');
    expect(atFailure.create).toEqual([]);
    expect(atFailure.shutdown).toEqual([]);
    const paused = atFailure.rollout!;

    // Later: the restart policy retries slot 1 itself, but no further slot starts.
    const later = run(svc, failing, T0 + 10_000, paused);
    expect(later.create).toEqual([{ slot: 1, specGeneration: 2 }]);
    expect(later.shutdown).toEqual([f.id]);
    expect(recordOf(later, paused).state).toBe('paused');
    // Even once slot 1's retry is updated.
    const retried = [stopped(o1!), { ...f, desiredState: 'shutdown' as const }, fresh(1, T0 + 10_000), o2!, o3!, o4!];
    const healed = run(svc, retried, T0 + 20_000, paused);
    expect(healed).toMatchObject({ create: [], shutdown: [] });
    expect(recordOf(healed, paused)).toMatchObject({ state: 'paused', reason: paused.reason });

    // `berth rollout resume`: it goes on, and the failure before it is forgiven.
    const resumed = withControl(svc, { revision: 2, action: 'resume', at: iso(T0 + 21_000) });
    const p = run(resumed, retried, T0 + 21_000, recordOf(healed, paused));
    expect(p.shutdown).toEqual([o2!.id]);
    expect(p.create).toEqual([{ slot: 2, specGeneration: 2 }]);
    expect(p.rollout).toMatchObject({ state: 'updating', failed: 0, updated: 1 });
    expect(p.rollout).not.toHaveProperty('reason');
    expect(p.rollout).not.toHaveProperty('pausedAt');
  });

  it('a failure reason gives the task message when there is one', () => {
    const svc = v2Service();
    const [o1, o2, o3, o4] = olds();
    const r = startedRecord(svc, [o1!, o2!, o3!, o4!]);
    const f = failedNew(1, undefined, T0 + 2000, { state: 'rejected', message: 'host port 8080/tcp is already in use on node a' });
    const p = run(svc, [stopped(o1!), f, o2!, o3!, o4!], T0 + 2000, r);
    expect(p.rollout!.reason).toBe(`${f.id} rejected (host port 8080/tcp is already in use on node a) within monitor; 1 update failure for 4 slots`);
  });

  it('with failureAction rollback, a failure restores the previous revision and writes nothing else; the rollback ends rolled-back with the reason', () => {
    const svc = v2Service({ parallelism: 2, failureAction: 'rollback' });
    const [o1, o2, o3, o4] = olds();
    const r = startedRecord(svc, [o1!, o2!, o3!, o4!]);
    const good = fresh(1, T0 + 1000);
    const f = failedNew(2, T0 + 1000, T0 + 2000);
    const tasks = [stopped(o1!), good, stopped(o2!), f, o3!, o4!];
    const p = run(svc, tasks, T0 + 2000, r);
    expect(p).toEqual({ create: [], shutdown: [], remove: [], rollback: { toRevision: 1, rollout: expect.objectContaining({ revision: 2, state: 'rolling-back', failed: 1 }) } });
    const reason = p.rollback!.rollout.reason!;
    expect(reason).toContain(f.id);

    // The leader stores revision 3 with revision 1's spec, and the rollback's own record.
    const restored = service({ replicas: 4, template: v1, update: update({ parallelism: 2, failureAction: 'rollback' }) }, 3);
    const record = rollbackRollout(p.rollback!.rollout, T0 + 2000)(3);
    expect(record).toMatchObject({ revision: 3, state: 'rolling-back', rollbackOf: 2, previousRevision: 2, reason });
    // Slot 2 (its replacement failed) gets revision 1 back at once; it holds the rollback's one place
    // (rollback.parallelism 1), so slot 1, running image 2, waits.
    const p1 = run(restored, tasks, T0 + 2000, record);
    expect(p1.create).toEqual([{ slot: 2, specGeneration: 3 }]);
    expect(p1.shutdown).toEqual([f.id]);
    const r1 = recordOf(p1, record);
    expect(r1).toMatchObject({ state: 'rolling-back', reason });

    const back2 = runningSince(2, T0 + 3000, v1, { specGeneration: 3 });
    const t2 = [stopped(o1!), good, stopped(o2!), { ...f, desiredState: 'shutdown' as const }, back2, o3!, o4!];
    const p2 = run(restored, t2, T0 + 8000, r1);
    expect(p2.shutdown).toEqual([good.id]);
    expect(p2.create).toEqual([{ slot: 1, specGeneration: 3 }]);
    const r2 = recordOf(p2, r1);
    expect(r2.state).toBe('rolling-back');

    const back1 = runningSince(1, T0 + 9000, v1, { specGeneration: 3 });
    const t3 = [stopped(o1!), stopped(good), back1, stopped(o2!), { ...f, desiredState: 'shutdown' as const }, back2, o3!, o4!];
    const p3 = run(restored, t3, T0 + 14_000, r2);
    expect(p3.rollout).toMatchObject({ revision: 3, state: 'rolled-back', rollbackOf: 2, reason, updated: 4, completedAt: iso(T0 + 14_000) });
  });

  it('a rollback replaces a slot whose old task ended after it began like any other: stop-first, within its parallelism', () => {
    const svc = v2Service({ parallelism: 2, failureAction: 'rollback' });
    const [o1, o2, o3, o4] = olds();
    const r = startedRecord(svc, [o1!, o2!, o3!, o4!]);
    const f = failedNew(1, T0 + 1000, T0 + 2000);
    const good = fresh(2, T0 + 1000);
    const p = run(svc, [stopped(o1!), f, stopped(o2!, T0 + 1500), good, o3!, o4!], T0 + 2000, r);
    const restored = service({ replicas: 4, template: v1, update: update({ parallelism: 2, failureAction: 'rollback' }) }, 3);
    const record = rollbackRollout(p.rollback!.rollout, T0 + 2000)(3);
    // Slot 2's old task (image 1, current again) took its stop grace and ended after the rollback
    // began: it is no failed attempt to retry start-first, and slot 1 holds the one place.
    const tasks = [stopped(o1!), f, stopped(o2!, T0 + 9000), good, o3!, o4!];
    const p1 = run(restored, tasks, T0 + 9000, record);
    expect(p1.create).toEqual([{ slot: 1, specGeneration: 3 }]);
    expect(p1.shutdown).toEqual([f.id]);
  });

  it('with failureAction continue, failures are counted and the update goes on: a failing slot no longer holds its place', () => {
    const svc = v2Service({ parallelism: 2, failureAction: 'continue' });
    const [o1, o2, o3, o4] = olds();
    const r = startedRecord(svc, [o1!, o2!, o3!, o4!]);
    const f = failedNew(1, T0 + 1000, T0 + 2000);
    const tasks = [stopped(o1!), f, stopped(o2!), fresh(2, T0 + 1000), o3!, o4!];
    const p = run(svc, tasks, T0 + 6000, r);
    expect(p.rollout).toMatchObject({ state: 'updating', failed: 1, updated: 1 });
    // Slot 1 is retried by the restart policy; past the ratio it holds no place: slots 3 and 4 start.
    expect(p.shutdown).toEqual([f.id, o3!.id, o4!.id]);
    expect(p.create).toEqual([{ slot: 1, specGeneration: 2 }, { slot: 3, specGeneration: 2 }, { slot: 4, specGeneration: 2 }]);
  });

  it('maxFailureRatio 0.5 over 4 slots tolerates 2 failures and pauses at the third', () => {
    const svc = v2Service({ parallelism: 0, maxFailureRatio: 0.5 });
    const os = olds();
    const r = startedRecord(svc, os);
    const failing = (n: number): PlannedTask[] => [
      ...os.map((o) => stopped(o)),
      ...[1, 2, 3, 4].map((slot) => (slot <= n ? failedNew(slot, T0 + 1000, T0 + 2000) : fresh(slot, T0 + 1000))),
    ];
    expect(recordOf(run(svc, failing(2), T0 + 2000, r), r)).toMatchObject({ state: 'updating', failed: 2 });
    expect(recordOf(run(svc, failing(3), T0 + 2000, r), r)).toMatchObject({ state: 'paused', failed: 3 });
  });

  it('a replacement that ends after its monitor is no update failure', () => {
    const svc = v2Service();
    const [o1, o2, o3, o4] = olds();
    const r = startedRecord(svc, [o1!, o2!, o3!, o4!]);
    const lateCrash = failedNew(1, T0 + 1000, T0 + 6000); // up 5s = the monitor
    const p = run(svc, [stopped(o1!), lateCrash, o2!, o3!, o4!], T0 + 6000, r);
    expect(recordOf(p, r)).toMatchObject({ state: 'updating', failed: 0 });
    expect(recordOf(p, r)).not.toHaveProperty('reason');
  });

  it('a health-checked replacement that never became healthy is an update failure however long it ran', () => {
    const healthCheck = { exec: ['false'], intervalMs: 1000, timeoutMs: 1000, retries: 3, startPeriodMs: 10_000 };
    const svc = v2Service({}, { template: { ...v2, healthCheck } });
    const [o1, o2, o3, o4] = olds();
    const r = startedRecord(svc, [o1!, o2!, o3!, o4!]);
    const neverHealthy = { ...failedNew(1, T0 + 1000, T0 + 20_000, { health: 'unhealthy', exitCode: 137, message: 'health check failed 3 times in a row' }), template: svc.spec.template };
    expect(recordOf(run(svc, [stopped(o1!), neverHealthy, o2!, o3!, o4!], T0 + 20_000, r), r)).toMatchObject({ state: 'paused', failed: 1 });
    // Healthy (upAt) for longer than the monitor before it turned unhealthy: the restart policy's business.
    const wasHealthy = { ...neverHealthy, status: { ...neverHealthy.status, upAt: iso(T0 + 2000) } };
    expect(recordOf(run(svc, [stopped(o1!), wasHealthy, o2!, o3!, o4!], T0 + 20_000, r), r)).toMatchObject({ state: 'updating', failed: 0 });
  });

  it('a new service has nothing to protect: its failures do not pause it', () => {
    const svc = service({ replicas: 4 });
    const first = run(svc, [], T0);
    expect(first.create.map((c) => c.slot)).toEqual([1, 2, 3, 4]);
    const r = first.rollout!;
    expect(r).toMatchObject({ revision: 1, state: 'updating' });
    expect(r).not.toHaveProperty('previousRevision');
    const f = { ...task(1, 'failed', { nodeName: 'a' }), template: v1, status: { state: 'failed' as const, exitCode: 1, startedAt: iso(T0 + 100), updatedAt: iso(T0 + 200) } };
    const tasks = [f, ...[2, 3, 4].map((slot) => runningSince(slot, T0 + 100, v1))];
    const p = run(svc, tasks, T0 + 200, r);
    expect(recordOf(p, r)).toMatchObject({ state: 'updating', failed: 1 });
    expect(recordOf(p, r)).not.toHaveProperty('reason');
    expect(run(svc, tasks, T0 + 1200, r).create).toEqual([{ slot: 1, specGeneration: 1 }]); // the restart policy
  });

  it('a completed update stays completed when a task crashes later', () => {
    const svc = v2Service({ parallelism: 0 });
    const os = olds();
    const r = startedRecord(svc, os);
    const news = [1, 2, 3, 4].map((slot) => fresh(slot, T0 + 1000));
    const done = run(svc, [...os.map((o) => stopped(o)), ...news], T0 + 6000, r);
    expect(done.rollout).toMatchObject({ state: 'completed', updated: 4, completedAt: iso(T0 + 6000) });
    const completed = done.rollout!;
    const crash = failedNew(1, T0 + 20_000, T0 + 21_000); // within a monitor, even
    const p = run(svc, [...os.map((o) => stopped(o)), { ...news[0]!, desiredState: 'shutdown', status: { ...news[0]!.status, state: 'failed' } }, crash, ...news.slice(1)], T0 + 21_000, completed);
    expect(recordOf(p, completed)).toMatchObject({ state: 'completed', completedAt: iso(T0 + 6000) });
    expect(recordOf(p, completed)).not.toHaveProperty('reason');
  });

  it('a rollback the operator paused and resumed still says, once done, what failed', () => {
    const failedRecord: Rollout = { revision: 2, state: 'rolling-back', previousRevision: 1, total: 1, updated: 0, failed: 1, reason: 'web.1.x failed (exited with code 3) within monitor', startedAt: iso(T0), updatedAt: iso(T0) };
    const restored = { ...service({ replicas: 1, template: v1 }, 3) };
    const record = rollbackRollout(failedRecord, T0)(3);
    const paused = { ...record, state: 'paused' as const, reason: 'paused by the operator', pausedAt: iso(T0 + 100) };
    const resumed = withControl(restored, { revision: 3, action: 'resume', at: iso(T0 + 200) });
    const up = runningSince(1, T0 - HOUR, v1);
    expect(recordOf(run(resumed, [up], T0 + 300, paused), paused)).toMatchObject({ state: 'rolled-back', reason: failedRecord.reason });
  });

  it('an operator pause stops further slots from starting; a pause of another revision does not', () => {
    const svc = v2Service();
    const [o1, o2, o3, o4] = olds();
    const r = startedRecord(svc, [o1!, o2!, o3!, o4!]);
    const tasks = [stopped(o1!), fresh(1, T0 + 1000), o2!, o3!, o4!];
    const pause = withControl(svc, { revision: 2, action: 'pause', at: iso(T0 + 500) });
    const p = run(pause, tasks, T0 + 10_000, r);
    expect(p).toMatchObject({ create: [], shutdown: [] });
    expect(p.rollout).toMatchObject({ state: 'paused', reason: 'paused by the operator', pausedAt: iso(T0 + 500), updated: 1 });
    const stale = withControl(svc, { revision: 1, action: 'pause', at: iso(T0 + 500) });
    expect(run(stale, tasks, T0 + 10_000, r).create).toEqual([{ slot: 2, specGeneration: 2 }]);
  });

  it('a replacement no node fits pauses the update with the scheduler\'s reason, unless a stop may free room, and it goes on once placed', () => {
    const svc = v2Service({ parallelism: 2 });
    const [o1, o2, o3, o4] = olds();
    const r = startedRecord(svc, [o1!, o2!, o3!, o4!]);
    const message = 'no node fits: 500m cpu is not free on any node';
    const unplaced = { ...task(1, 'pending', { specGeneration: 2 }), template: v2, status: { state: 'pending' as const, message, updatedAt: iso(T0 + 100) } };
    const rest = [stopped(o2!), fresh(2, T0 + 1000), o3!, o4!]; // slot 2 updated at T0 + 6s

    const p = run(svc, [stopped(o1!), unplaced, ...rest], T0 + 10_000, r);
    expect(p).toMatchObject({ create: [], shutdown: [] });
    expect(p.rollout).toMatchObject({ state: 'paused', reason: `${unplaced.id} cannot be placed: ${message}` });
    expect(p.rollout).not.toHaveProperty('pausedAt'); // not sticky
    const paused = p.rollout!;

    // Slot 1's old task is still stopping: its room may be what the replacement waits for.
    const stopping = { ...o1!, desiredState: 'shutdown' as const };
    const waiting = run(svc, [stopping, unplaced, ...rest], T0 + 10_000, r);
    expect(recordOf(waiting, r).state).toBe('updating');
    expect(waiting.create).toEqual([{ slot: 3, specGeneration: 2 }]);

    // Slot 1's old task ended just now, after the scheduler's verdict: its room (a host port,
    // say) was not free when the scheduler looked, so the update waits for it to look again.
    const justStopped = run(svc, [stopped(o1!, T0 + 9_000), unplaced, ...rest], T0 + 10_000, r);
    expect(recordOf(justStopped, r).state).toBe('updating');
    expect(justStopped.requeueAfterMs).toBeLessThanOrEqual(4_000);
    // Still not placed well after that stop: the verdict stands.
    expect(run(svc, [stopped(o1!, T0 + 9_000), unplaced, ...rest], T0 + 14_000, r).rollout).toMatchObject({ state: 'paused' });

    // Placed: the update goes on by itself.
    const placed = { ...unplaced, nodeName: 'a', status: { state: 'assigned' as const, node: 'a', updatedAt: iso(T0 + 11_000) } };
    const goes = run(svc, [stopped(o1!), placed, ...rest], T0 + 11_000, paused);
    expect(goes.rollout).toMatchObject({ state: 'updating' });
    expect(goes.rollout).not.toHaveProperty('reason');
    expect(goes.create).toEqual([{ slot: 3, specGeneration: 2 }]);
  });

  it('`rollout restart` replaces tasks created before it even with the same template', () => {
    const base = service({ replicas: 4 }, 2);
    const svc: Service = { ...base, meta: { ...base.meta, restartGeneration: 2 } };
    const [o1, o2, o3, o4] = olds();
    const first = run(svc, [o1!, o2!, o3!, o4!], T0, settled);
    expect(first.shutdown).toEqual([o1!.id]);
    expect(first.create).toEqual([{ slot: 1, specGeneration: 2 }]);
    expect(first.rollout).toMatchObject({ revision: 2, state: 'updating', previousRevision: 1 });
    // The task created since the restart counts as updated: the next slot goes.
    const restarted = runningSince(1, T0 + 1000, v1, { specGeneration: 2 });
    const p = run(svc, [stopped(o1!), restarted, o2!, o3!, o4!], T0 + 6000, first.rollout!);
    expect(p.shutdown).toEqual([o2!.id]);
    expect(p.create).toEqual([{ slot: 2, specGeneration: 2 }]);
    expect(p.rollout).toMatchObject({ updated: 1 });
  });
});

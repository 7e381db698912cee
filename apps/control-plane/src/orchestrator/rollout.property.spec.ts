import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isRolloutDone, isTerminal, type FailureAction, type Rollout, type Service, type UpdateConfig } from '@berth/core';
import { iso, node, service, spec, T0 } from './__fixtures__/plan-input';
import { planService, type PlannedTask, type ServicePlan } from './plan';
import { rollbackRollout } from './rollout';

const v1 = spec().template;
const v2 = { ...v1, image: 'oci:/img:2' };
const restartPolicy = { condition: 'any' as const, delayMs: 500, maxDelayMs: 4000, maxAttempts: 0 };

/**
 * What becomes of a replacement of the template being rolled out: it runs fine, a node rejects it
 * before it starts, or it crashes at the agent's next step if that comes before its monitor ends.
 * Failures only ever hit replacements within their monitor: a task that crashes after its monitor
 * is the restart policy's business, not the rollout's, and would go down whatever the planner does.
 */
type Fate = 'ok' | 'reject' | 'crash';

interface Scenario {
  readonly replicas: number;
  readonly update: UpdateConfig;
  readonly rollback: UpdateConfig;
  /** The fates of the update's replacements in the order they are created; the rest run fine. */
  readonly fates: readonly Fate[];
  /** How far the clock moves after each round. */
  readonly steps: readonly number[];
}

/** The cluster the planner acts on, one service being updated from image 1 to image 2. */
interface World {
  service: Service;
  tasks: PlannedTask[];
  rollout: Rollout | undefined;
  now: number;
  seq: number;
  fates: Fate[];
  readonly fateOf: Map<string, Fate>;
  /** Set once the leader restored revision 1's spec as revision 3. */
  rolledBack: boolean;
  /** The slots the update had touched when it paused for failures (failureAction pause). */
  pausedWith?: ReadonlySet<number>;
}

const configArb = (actions: readonly FailureAction[]): fc.Arbitrary<UpdateConfig> =>
  fc.record({
    parallelism: fc.integer({ min: 0, max: 3 }),
    delayMs: fc.constantFrom(0, 500, 2000),
    monitorMs: fc.integer({ min: 1000, max: 4000 }),
    maxFailureRatio: fc.constantFrom(0, 0.25, 0.5),
    failureAction: fc.constantFrom(...actions),
    order: fc.constantFrom('stop-first' as const, 'start-first' as const),
  });

const scenarioArb = (actions: readonly FailureAction[], fates: fc.Arbitrary<Fate[]>): fc.Arbitrary<Scenario> =>
  fc.record({
    replicas: fc.integer({ min: 1, max: 5 }),
    update: configArb(actions),
    rollback: configArb(['pause', 'continue']),
    fates,
    steps: fc.array(fc.integer({ min: 0, max: 3000 }), { minLength: 5, maxLength: 40 }),
  });
const someFates = fc.array(fc.constantFrom<Fate>('ok', 'ok', 'reject', 'crash'), { maxLength: 12 });

const live = (t: PlannedTask): boolean => t.desiredState === 'running' && !isTerminal(t.status.state);
const liveUp = (t: PlannedTask): boolean => live(t) && t.status.state === 'running';
const slotsOf = (w: World): number[] => Array.from({ length: w.service.spec.replicas }, (_, i) => i + 1);
/** The knobs of the rollout under way: the update's, or the rollback's once the leader rolled back. */
const knobs = (w: World): UpdateConfig => (w.rollout?.rollbackOf === undefined ? w.service.spec.update : w.service.spec.rollback);
const isTarget = (w: World, t: PlannedTask): boolean => t.template?.image === w.service.spec.template.image;
const isV2 = (t: PlannedTask): boolean => t.template?.image === v2.image;
/** Update failures as the scenario made them: replacements of image 2 that failed or were rejected. */
const failuresIn = (tasks: readonly PlannedTask[]): number => tasks.filter((t) => isV2(t) && (t.status.state === 'failed' || t.status.state === 'rejected')).length;
const v2Slots = (w: World): Set<number> => new Set(w.tasks.filter(isV2).map((t) => t.slot));

/**
 * Slots in flight, judged from the tasks alone: the rollout under way created a task of its
 * template there, and no live task of that template has been up for the monitor yet — its
 * replacement is starting, being monitored, or failed and waits to be retried.
 */
function inFlight(w: World): number[] {
  const since = Date.parse(w.rollout!.startedAt);
  const monitored = (t: PlannedTask): boolean => liveUp(t) && w.now - Date.parse(t.status.startedAt!) >= knobs(w).monitorMs;
  return slotsOf(w).filter((slot) => {
    const mine = w.tasks.filter((t) => t.slot === slot && isTarget(w, t));
    return mine.some((t) => Date.parse(t.createdAt) >= since) && !mine.some(monitored);
  });
}

function init(s: Scenario): World {
  const tasks = Array.from({ length: s.replicas }, (_, i): PlannedTask => ({
    id: `web.${i + 1}.${String(i + 1).padStart(6, '0')}`,
    service: 'web',
    slot: i + 1,
    specGeneration: 1,
    desiredState: 'running',
    nodeName: 'a',
    status: { state: 'running', node: 'a', startedAt: iso(T0 - 3_600_000), updatedAt: iso(T0 - 3_600_000) },
    createdAt: iso(T0 - 3_600_000),
    resourceVersion: '1',
    template: v1,
  }));
  const settled: Rollout = { revision: 1, state: 'completed', total: s.replicas, updated: s.replicas, failed: 0, startedAt: iso(T0 - 3_600_000), updatedAt: iso(T0 - 3_600_000) };
  return {
    service: service({ replicas: s.replicas, template: v2, restartPolicy, update: s.update, rollback: s.rollback }, 2),
    tasks,
    rollout: settled,
    now: T0,
    seq: s.replicas,
    fates: [...s.fates],
    fateOf: new Map(),
    rolledBack: false,
  };
}

/** The store write of a plan: shutdowns, removes, and new pending tasks of the service's template. */
function applyPlan(w: World, plan: ServicePlan): void {
  const stop = new Set(plan.shutdown);
  const gone = new Set(plan.remove);
  w.tasks = w.tasks.filter((t) => !gone.has(t.id)).map((t) => (stop.has(t.id) ? { ...t, desiredState: 'shutdown' as const } : t));
  for (const c of plan.create) {
    const id = `web.${c.slot}.${String(++w.seq).padStart(6, '0')}`;
    const template = w.service.spec.template;
    if (template.image === v2.image && !w.rolledBack) w.fateOf.set(id, w.fates.shift() ?? 'ok');
    w.tasks.push({ id, service: 'web', slot: c.slot, specGeneration: c.specGeneration, desiredState: 'running', status: { state: 'pending', updatedAt: iso(w.now) }, createdAt: iso(w.now), resourceVersion: '1', template });
  }
}

/**
 * The agent: stopped tasks end, pending ones start (or are rejected) now, a replacement fated to
 * crash fails at its next step if its monitor has not ended by then. Once the leader rolled back,
 * image 2 is no longer what rolls out: its tasks are left to run until they are replaced.
 */
function agent(w: World): void {
  const monitorMs = w.service.spec.update.monitorMs;
  const at = iso(w.now);
  w.tasks = w.tasks.map((t): PlannedTask => {
    if (isTerminal(t.status.state)) return t;
    if (t.desiredState === 'shutdown') return { ...t, status: { ...t.status, state: 'shutdown', updatedAt: at } };
    const fate = w.rolledBack ? 'ok' : (w.fateOf.get(t.id) ?? 'ok');
    if (t.status.state === 'pending') {
      if (fate === 'reject') return { ...t, status: { state: 'rejected', message: 'no such image', updatedAt: at } };
      return { ...t, nodeName: 'a', status: { state: 'running', node: 'a', startedAt: at, updatedAt: at } };
    }
    if (fate === 'crash') {
      w.fateOf.set(t.id, 'ok');
      if (w.now - Date.parse(t.status.startedAt!) < monitorMs) return { ...t, status: { ...t.status, state: 'failed', exitCode: 1, updatedAt: at } };
    }
    return t;
  });
}

/** One orchestrator pass then one agent step, checking what must hold after each. */
function round(w: World, s: Scenario): void {
  const before = w.tasks;
  const failuresBefore = failuresIn(before);
  const exceeded = !w.rolledBack && failuresBefore / s.replicas > s.update.maxFailureRatio;
  // Tasks run on node a: it must exist, or they count as lost with their node.
  const plan = planService({ service: w.service, tasks: w.tasks, nodes: [node('a')], now: w.now, ...(w.rollout ? { rollout: w.rollout } : {}) });

  if (plan.rollback) {
    expect(s.update.failureAction).toBe('rollback');
    expect(exceeded).toBe(true);
    expect(plan).toMatchObject({ create: [], shutdown: [], remove: [] });
    expect(plan.rollback.toRevision).toBe(1);
    // The leader: revision 3 with revision 1's spec, and the rollback's own record.
    w.service = service({ replicas: s.replicas, template: v1, restartPolicy, update: s.update, rollback: s.rollback }, 3);
    w.rollout = rollbackRollout(plan.rollback.rollout, w.now)(3);
    w.rolledBack = true;
    return;
  }
  if (!w.rolledBack && exceeded && s.update.failureAction === 'rollback') throw new Error('failures exceeded the ratio but no rollback');
  applyPlan(w, plan);
  w.rollout = plan.rollout ?? w.rollout;
  const record = w.rollout!;
  const p = knobs(w).parallelism;

  if (!w.rolledBack) {
    expect(record.revision).toBe(2);
    // A finished record keeps the counts it finished with; history trimming may drop failures later.
    if (!isRolloutDone(record)) expect(record.failed).toBe(failuresBefore);
    if (exceeded && s.update.failureAction === 'pause') {
      // Failures exceeded the ratio: paused for good, and no slot starts from now on. The restart
      // policy still retries the failed slots; once every slot runs an updated task there is
      // nothing left to hold back, and the update completes.
      w.pausedWith ??= v2Slots(w);
      expect([...v2Slots(w)].every((slot) => w.pausedWith!.has(slot))).toBe(true);
      if (record.state === 'completed') expect(w.pausedWith.size).toBe(s.replicas);
      else expect(record.state).toBe('paused');
    } else {
      expect(['updating', 'completed']).toContain(record.state);
    }
    checkUpdate(w, s);
  } else {
    expect(record).toMatchObject({ revision: 3, rollbackOf: 2 });
    // Slots whose image-2 task failed come back at once by the restart policy, whatever the
    // budget; but the rollback itself starts a slot only within it.
    const starts = new Set(plan.create.filter((c) => before.some((t) => t.slot === c.slot && live(t) && !isTarget(w, t))).map((c) => c.slot));
    if (starts.size > 0 && p > 0) expect(inFlight(w).length).toBeLessThanOrEqual(p);
  }

  agent(w);
  if (!w.rolledBack) checkUpdate(w, s);
}

/**
 * While the update (not its rollback) is under way:
 * - never more than `parallelism` slots in flight. A failing replacement keeps its slot in
 *   flight (it never frees its place), so failures do not make room for another slot;
 * - stop-first: never more than `parallelism` slots without a live task up. Every slot down is in
 *   flight — its old task was stopped for a replacement that is not up yet, or failed — since the
 *   scenario fails replacements only within their monitor; so failures take down no slot beyond
 *   the ones already being replaced;
 * - start-first: never fewer than `replicas` live tasks up, failures or not: an old task stops
 *   only once its replacement has been up for the monitor, and nothing fails after that.
 * With `failureAction: continue` past the ratio, failing slots hold no place any more: the
 * limits then hold for the other slots.
 */
function checkUpdate(w: World, s: Scenario): void {
  const p = s.update.parallelism;
  const up = w.tasks.filter(liveUp);
  const released = s.update.failureAction === 'continue' && failuresIn(w.tasks) / s.replicas > s.update.maxFailureRatio;
  const failing = new Set(released ? w.tasks.filter((t) => isV2(t) && (t.status.state === 'failed' || t.status.state === 'rejected')).map((t) => t.slot) : []);
  if (p > 0) expect(inFlight(w).filter((slot) => !failing.has(slot)).length).toBeLessThanOrEqual(p);
  if (s.update.order === 'stop-first') {
    const down = slotsOf(w).filter((slot) => !failing.has(slot) && !up.some((t) => t.slot === slot));
    if (p > 0) expect(down.length).toBeLessThanOrEqual(p);
  } else {
    expect(up.length).toBeGreaterThanOrEqual(s.replicas);
  }
}

/** Runs the scenario's rounds, then lets every replacement run fine until the rollout settles. */
function simulate(s: Scenario): World {
  const w = init(s);
  for (const step of s.steps) {
    round(w, s);
    w.now += step;
  }
  w.fates = [];
  for (let i = 0; i < 400 && !converged(w); i++) {
    round(w, s);
    w.now += 1000;
    if (w.pausedWith && w.rollout!.state === 'paused' && i > 20) break; // paused for good
  }
  return w;
}

function converged(w: World): boolean {
  const running = w.tasks.filter(live);
  return isRolloutDone(w.rollout!) && running.length === w.service.spec.replicas && running.every((t) => t.status.state === 'running' && isTarget(w, t));
}

/** One running task of `image` per slot, and nothing else live. */
function expectAllRun(w: World, image: string): void {
  const running = w.tasks.filter(live);
  expect(running.map((t) => t.slot).sort()).toEqual(slotsOf(w));
  expect(running.every((t) => t.status.state === 'running' && t.template?.image === image)).toBe(true);
}

describe('rolling update properties (planService rounds with a clock and an agent)', () => {
  it('keeps within parallelism, never drops below replicas − parallelism (stop-first) or replicas (start-first), and ends as its failure action says', () => {
    fc.assert(
      fc.property(scenarioArb(['pause', 'continue', 'rollback'], someFates), (s) => {
        const w = simulate(s);
        if (w.rolledBack) {
          expect(w.rollout).toMatchObject({ state: 'rolled-back', revision: 3, rollbackOf: 2 });
          expectAllRun(w, v1.image!);
        } else if (w.rollout!.state === 'paused') {
          expect(w.pausedWith).toBeDefined();
          expect(w.rollout!.reason).toMatch(/^web\.\d+\.\d+ (failed|rejected)/);
        } else {
          expect(w.rollout).toMatchObject({ state: 'completed', revision: 2, updated: s.replicas });
          expectAllRun(w, v2.image);
        }
      }),
      { numRuns: 200 },
    );
  });

  it('a failing replacement never frees its slot: with pause, no slot starts once failures exceed the ratio', () => {
    const failing = fc.array(fc.constantFrom<Fate>('ok', 'reject', 'crash', 'crash'), { minLength: 1, maxLength: 12 });
    fc.assert(
      fc.property(scenarioArb(['pause'], failing), (s) => {
        const w = simulate(s);
        // Paused for good, or every slot got its replacement (by the restart policy once paused) and it completed.
        if (w.rollout!.state === 'paused') expect(w.pausedWith).toBeDefined();
        else expect(w.rollout).toMatchObject({ state: 'completed', updated: s.replicas });
      }),
      { numRuns: 200 },
    );
  });

  it('a rollback converges to the previous template: every slot runs it and the record says rolled-back', () => {
    // The first replacement is rejected: with maxFailureRatio 0 that alone rolls back.
    const firstFails = someFates.map((rest): Fate[] => ['reject', ...rest]);
    fc.assert(
      fc.property(scenarioArb(['rollback'], firstFails), (s) => {
        const update = { ...s.update, maxFailureRatio: 0 };
        const w = simulate({ ...s, update });
        expect(w.rolledBack).toBe(true);
        expect(w.rollout).toMatchObject({ state: 'rolled-back', revision: 3, rollbackOf: 2, previousRevision: 2 });
        expect(w.rollout!.reason).toMatch(/^web\.\d+\.\d+ (failed|rejected)/);
        expectAllRun(w, v1.image!);
      }),
      { numRuns: 200 },
    );
  });

  it('with every replacement healthy, the rollout completes: each slot runs the new template', () => {
    fc.assert(
      fc.property(scenarioArb(['pause', 'continue', 'rollback'], fc.constant([])), (s) => {
        const w = simulate(s);
        expect(w.rolledBack).toBe(false);
        expect(w.rollout).toMatchObject({ state: 'completed', revision: 2, total: s.replicas, updated: s.replicas, failed: 0 });
        expectAllRun(w, v2.image);
      }),
      { numRuns: 200 },
    );
  });
});

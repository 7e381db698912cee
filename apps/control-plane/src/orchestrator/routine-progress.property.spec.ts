import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isTerminal, TASK_STATES, type Rollout, type Service, type TaskState } from '@berth/core';
import { node, service, settled, T0, task } from './__fixtures__/plan-input';
import { planService, type PlannedTask } from './plan';
import { isRoutineProgress } from './task-facts';

const LIVE_ON_NODE: readonly TaskState[] = ['assigned', 'preparing', 'starting', 'running'];

/** Revision 1 rolling out: its record counts tasks up, it protects nothing. */
const firstRollout: Rollout = { revision: 1, state: 'updating', total: 3, updated: 0, failed: 0, startedAt: new Date(T0 - 1000).toISOString(), updatedAt: new Date(T0 - 1000).toISOString() };

const nodes = [node('a'), node('b', { availability: 'drain' }), node('c', { state: 'down' }), node('d', { state: 'unknown' })];

const taskArb = fc.record({
  slot: fc.integer({ min: 1, max: 5 }),
  state: fc.constantFrom(...TASK_STATES),
  desired: fc.constantFrom('running' as const, 'running' as const, 'shutdown' as const),
  node: fc.constantFrom(undefined, 'a', 'a', 'b', 'c', 'd', 'gone'),
  health: fc.constantFrom(undefined, 'starting' as const, 'healthy' as const),
});

type TaskSketch = typeof taskArb extends fc.Arbitrary<infer T> ? T : never;

const checked = service({ template: { ...service().spec.template, healthCheck: { exec: ['true'], intervalMs: 1000, timeoutMs: 1000, retries: 3, startPeriodMs: 0 } } });

/**
 * Tasks of one revision as the store can hold them: one active task (desired running, not ended)
 * per slot at most, a node on every task an agent has (assigned and later), every template the
 * service's (a task of another is one a rollout replaces).
 */
function build(specs: TaskSketch[], template: Service['spec']['template']): PlannedTask[] {
  const activeSlots = new Set<number>();
  return specs.map((s) => {
    const onNode = !['new', 'pending'].includes(s.state);
    const nodeName = onNode ? (s.node ?? 'a') : undefined;
    const active = s.desired === 'running' && !isTerminal(s.state);
    const desiredState = active && activeSlots.has(s.slot) ? 'shutdown' : s.desired;
    if (active) activeSlots.add(s.slot);
    const t = task(s.slot, s.state, { desiredState, ...(nodeName ? { nodeName } : {}) });
    return {
      ...t,
      template,
      status: { ...t.status, ...(s.health ? { health: s.health } : {}), ...(s.state === 'running' ? { startedAt: new Date(T0).toISOString() } : {}) },
    };
  });
}

const decided = (p: ReturnType<typeof planService>) => ({ create: p.create, shutdown: p.shutdown, remove: p.remove, rollback: p.rollback });

describe('routine progress (isRoutineProgress)', () => {
  it('changes nothing a plan decides while no rollout replaces an earlier revision', () => {
    fc.assert(
      fc.property(
        fc.array(taskArb, { minLength: 1, maxLength: 10 }),
        fc.nat(),
        fc.nat(),
        fc.integer({ min: 0, max: 5 }),
        fc.constantFrom(undefined, settled, firstRollout),
        fc.boolean(),
        (specs, pick, step, replicas, rollout, withCheck) => {
          const base = withCheck ? checked : service();
          const tasks = build(specs, base.spec.template);
          const i = pick % tasks.length;
          const before = tasks[i]!;
          const from = LIVE_ON_NODE.indexOf(before.status.state);
          if (from < 0 || from === LIVE_ON_NODE.length - 1) return;
          const to = LIVE_ON_NODE[from + 1 + (step % (LIVE_ON_NODE.length - 1 - from))]!;
          const after: PlannedTask = { ...before, status: { ...before.status, state: to, ...(to === 'running' ? { startedAt: new Date(T0).toISOString() } : {}) } };
          expect(isRoutineProgress(before, after)).toBe(true);
          const input = { service: { ...base, spec: { ...base.spec, replicas } }, nodes, now: T0 + 60_000, ...(rollout ? { rollout } : {}) };
          const planBefore = planService({ ...input, tasks });
          const planAfter = planService({ ...input, tasks: tasks.map((t, j) => (j === i ? after : t)) });
          expect(decided(planAfter)).toEqual(decided(planBefore));
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('is anything but routine: an ending, a stop, a move, a health change, a replacement', () => {
    const t = task(1, 'starting', { nodeName: 'a' });
    expect(isRoutineProgress(t, { ...t, status: { ...t.status, state: 'running' } })).toBe(true);
    expect(isRoutineProgress(t, { ...t, status: { ...t.status, state: 'failed' } })).toBe(false);
    expect(isRoutineProgress(t, { ...t, desiredState: 'shutdown' })).toBe(false);
    expect(isRoutineProgress(t, { ...t, nodeName: 'b' })).toBe(false);
    expect(isRoutineProgress(t, { ...t, status: { ...t.status, state: 'running', health: 'healthy' } })).toBe(false);
    expect(isRoutineProgress({ ...t, replaces: 'web.1.0' }, { ...t, replaces: 'web.1.0', status: { ...t.status, state: 'running' } })).toBe(false);
    expect(isRoutineProgress(undefined, t)).toBe(false);
    expect(isRoutineProgress(t, undefined)).toBe(false);
    const pending = task(1, 'pending');
    expect(isRoutineProgress(pending, { ...pending, status: { ...pending.status, message: 'no node fits' } })).toBe(false);
  });
});

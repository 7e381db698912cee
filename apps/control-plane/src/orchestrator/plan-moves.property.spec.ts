import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isTerminal, type NodeInfo } from '@berth/core';
import { node, service } from './__fixtures__/plan-input';
import { planService, type PlannedTask, type ServicePlan } from './plan';

const NODES = ['n1', 'n2', 'n3'] as const;
type Event = { readonly node: (typeof NODES)[number]; readonly to: 'down' | 'up' | 'drain' | 'activate' };

/** The world the planner acts on: tasks, and nodes the test turns down, up, drained or active. */
interface World {
  tasks: PlannedTask[];
  nodes: Map<string, NodeInfo>;
  ids: number;
}

/** The store write of a plan: shutdowns, removes, and new pending tasks with fresh ids. */
function applyPlan(w: World, plan: ServicePlan): void {
  const stop = new Set(plan.shutdown);
  const gone = new Set(plan.remove);
  w.tasks = w.tasks.filter((t) => !gone.has(t.id)).map((t) => (stop.has(t.id) ? { ...t, desiredState: 'shutdown' as const } : t));
  for (const c of plan.create) {
    const id = `web.${c.slot}.${String(++w.ids).padStart(6, '0')}`;
    w.tasks.push({ id, service: 'web', slot: c.slot, specGeneration: c.specGeneration, desiredState: 'running', ...(c.replaces ? { replaces: c.replaces } : {}), status: { state: 'pending', updatedAt: '' }, createdAt: id.slice(-6), resourceVersion: '1' });
  }
}

/** The scheduler: a pending task goes to the first ready, active node; placing a replacement orphans a task of a down node. */
function schedule(w: World): void {
  const target = NODES.find((n) => w.nodes.get(n)!.state === 'ready' && w.nodes.get(n)!.availability === 'active');
  if (!target) return;
  w.tasks = w.tasks.map((t) => (t.status.state === 'pending' && !t.nodeName && t.desiredState === 'running' ? { ...t, nodeName: target, status: { state: 'assigned', updatedAt: '' } } : t));
  for (const r of w.tasks.filter((t) => t.replaces && t.nodeName)) {
    w.tasks = w.tasks.map((t) => (t.id === r.replaces && !isTerminal(t.status.state) && w.nodes.get(t.nodeName!)?.state === 'down' ? { ...t, desiredState: 'shutdown', status: { state: 'orphaned', updatedAt: '' } } : t));
  }
}

/** The agents of ready nodes: assigned tasks run, stopped ones end. A down node's agent reports nothing. */
function agents(w: World): void {
  w.tasks = w.tasks.map((t) => {
    if (!t.nodeName || isTerminal(t.status.state) || w.nodes.get(t.nodeName)!.state !== 'ready') return t;
    return { ...t, status: { state: t.desiredState === 'shutdown' ? 'shutdown' : 'running', updatedAt: '' } };
  });
}

function step(w: World, replicas: number): void {
  applyPlan(w, planService({ service: service({ replicas, update: { parallelism: 1, delayMs: 0, monitorMs: 0, maxFailureRatio: 0, failureAction: 'pause', order: 'stop-first' } }), tasks: w.tasks, nodes: [...w.nodes.values()], now: 0 }));
  schedule(w);
  agents(w);
}

function apply(w: World, e: Event): void {
  const n = w.nodes.get(e.node)!;
  if (e.to === 'down') w.nodes.set(e.node, { ...n, state: 'down', downSince: '1970-01-01T00:00:00.000Z' });
  else if (e.to === 'up') w.nodes.set(e.node, { ...n, state: 'ready', downSince: undefined });
  else w.nodes.set(e.node, { ...n, availability: e.to === 'drain' ? 'drain' : 'active' });
}

/** Live tasks of a slot form one chain of replacements: at most an original and the task replacing it. */
function assertSlotsChained(w: World): void {
  const live = w.tasks.filter((t) => t.desiredState === 'running' && !isTerminal(t.status.state));
  for (const slot of new Set(live.map((t) => t.slot))) {
    const inSlot = live.filter((t) => t.slot === slot);
    expect(inSlot.length).toBeLessThanOrEqual(2);
    if (inSlot.length === 2) expect(inSlot.some((t) => inSlot.some((o) => t.replaces === o.id))).toBe(true);
  }
}

describe('planService with nodes that go down, come back and drain', () => {
  it('keeps each slot to one task or one task and its replacement, and converges to one running task per slot', () => {
    const event = fc.record({ node: fc.constantFrom(...NODES), to: fc.constantFrom<Event['to']>('down', 'up', 'drain', 'activate') });
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 5 }), fc.array(fc.array(event, { maxLength: 2 }), { minLength: 1, maxLength: 10 }), (replicas, rounds) => {
        const w: World = { tasks: [], nodes: new Map(NODES.map((n) => [n, node(n)])), ids: 0 };
        for (const events of rounds) {
          for (const e of events) apply(w, e);
          step(w, replicas);
          assertSlotsChained(w);
        }
        // Every node back and active: each slot ends with exactly one running task, none orphaned revived.
        for (const n of NODES) {
          apply(w, { node: n, to: 'up' });
          apply(w, { node: n, to: 'activate' });
        }
        for (let i = 0; i < 3 * replicas + 6; i++) {
          step(w, replicas);
          assertSlotsChained(w);
        }
        const live = w.tasks.filter((t) => t.desiredState === 'running' && !isTerminal(t.status.state));
        expect(live.map((t) => t.slot).sort()).toEqual(Array.from({ length: replicas }, (_, i) => i + 1));
        expect(live.every((t) => t.status.state === 'running')).toBe(true);
      }),
    );
  });
});

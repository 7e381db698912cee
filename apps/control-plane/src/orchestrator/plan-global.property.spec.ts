import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isTerminal, type NodeInfo, type Rollout, type Service } from '@berth/core';
import { eligibleNodes, schedule, taskSpec } from '@berth/scheduler';
import { assignTask, markUnschedulable, newTaskRecord, shutdownTask, type TaskRecord } from '@berth/store';
import { schedulingInput } from '../scheduling/snapshot';
import { node, service, spec, T0 } from './__fixtures__/plan-input';
import { planService } from './plan';

/*
 * A global service, the orchestrator and the scheduler together, on their pure functions: nodes
 * join, are relabelled, drained, activated, removed, go down and come back, or blink (a short
 * disconnect: the node stays ready while its lease lives). Whatever happens, a node never holds
 * two live tasks of the service, a task only ever lands on the node it was created for, and once
 * every node is back, every eligible node runs exactly one task — or, when it lacks the memory,
 * has one waiting with the scheduler's reason — and no other node has any.
 */

const NAMES = ['n1', 'n2', 'n3', 'n4'] as const;
const Mi = 1024 ** 2;
const NOW = T0 + 3_600_000;
const at = new Date(NOW).toISOString();

type Event =
  | { readonly kind: 'label'; readonly node: string; readonly zone: 'a' | 'b' | undefined }
  | { readonly kind: 'drain' | 'activate' | 'remove' | 'join' | 'down' | 'up' | 'blink'; readonly node: string };

interface World {
  readonly service: Service;
  nodes: Map<string, NodeInfo>;
  tasks: TaskRecord[];
  rollout: Rollout | undefined;
  ids: number;
  /** Nodes something happened to other than a blink. */
  readonly touched: Set<string>;
}

const member = (name: string, zone: 'a' | 'b' | undefined, small: boolean): NodeInfo =>
  node(name, { labels: zone ? { zone } : {}, capacity: { cpuMillis: 2000, memoryBytes: (small ? 32 : 1024) * Mi } });

function apply(w: World, e: Event, small: ReadonlySet<string>): void {
  const n = w.nodes.get(e.node);
  if (e.kind !== 'blink') w.touched.add(e.node);
  if (e.kind === 'join') {
    if (!n) w.nodes.set(e.node, member(e.node, 'a', small.has(e.node)));
    return;
  }
  if (!n) return;
  if (e.kind === 'label') w.nodes.set(e.node, { ...n, labels: e.zone ? { zone: e.zone } : {} });
  else if (e.kind === 'drain' || e.kind === 'activate') w.nodes.set(e.node, { ...n, availability: e.kind === 'drain' ? 'drain' : 'active' });
  else if (e.kind === 'remove') w.nodes.delete(e.node);
  else if (e.kind === 'down') w.nodes.set(e.node, { ...n, state: 'down', downSince: at });
  else if (e.kind === 'up') w.nodes.set(e.node, { ...n, state: 'ready', downSince: undefined });
  // blink: the agent reconnects within its lease; the node never stops being ready.
}

/** The orchestrator's pass and its store write (task-writes.ts, as the store applies it). */
function orchestrate(w: World): void {
  const plan = planService({ service: w.service, tasks: w.tasks, nodes: [...w.nodes.values()], now: NOW, ...(w.rollout ? { rollout: w.rollout } : {}) });
  w.rollout = plan.rollout ?? w.rollout;
  const stop = new Set(plan.shutdown);
  const gone = new Set(plan.remove);
  w.tasks = w.tasks.filter((t) => !gone.has(t.id)).map((t) => (stop.has(t.id) ? (shutdownTask(at)(t) ?? t) : t));
  for (const c of plan.create) {
    expect(c).not.toHaveProperty('nodeName'); // only the scheduler writes nodeName
    const id = `web.${c.slot}.${String(++w.ids).padStart(6, '0')}`;
    w.tasks.push(newTaskRecord('web', { ...c, template: w.service.spec.template, placement: w.service.spec.placement }, new Date(NOW + w.ids).toISOString(), id));
  }
}

/** The scheduler's pass: the snapshot, the pure schedule, its writes. */
function scheduleAll(w: World): void {
  const input = schedulingInput(w.tasks, () => w.service, [...w.nodes.values()], { now: NOW });
  const r = schedule(input);
  const placed = new Map(r.placements.map((p) => [p.taskId, p.node]));
  const why = new Map(r.unschedulable.map((u) => [u.taskId, u.explanation]));
  w.tasks = w.tasks.map((t) => {
    const to = placed.get(t.id);
    if (to !== undefined) return assignTask(to, at)(t) ?? t;
    const explanation = why.get(t.id);
    return explanation === undefined ? t : (markUnschedulable(explanation, at)(t) ?? t);
  });
}

/** The agents of ready nodes: what they were given runs; what was stopped ends. */
function agents(w: World): void {
  w.tasks = w.tasks.map((t) => {
    if (!t.nodeName || isTerminal(t.status.state) || w.nodes.get(t.nodeName)?.state !== 'ready') return t;
    return { ...t, status: { ...t.status, state: t.desiredState === 'shutdown' ? 'shutdown' : 'running', updatedAt: at } };
  });
}

function step(w: World): void {
  orchestrate(w);
  scheduleAll(w);
  agents(w);
  const live = w.tasks.filter((t) => t.desiredState === 'running' && !isTerminal(t.status.state));
  const where = live.map((t) => t.nodeName ?? t.targetNode);
  expect(where.every((n) => n !== undefined)).toBe(true);
  expect(new Set(where).size).toBe(where.length); // one live task per node
  for (const t of w.tasks) if (t.nodeName && t.targetNode) expect(t.nodeName).toBe(t.targetNode);
}

const arbEvent: fc.Arbitrary<Event> = fc.oneof(
  fc.record({ kind: fc.constant('label' as const), node: fc.constantFrom(...NAMES), zone: fc.constantFrom('a' as const, 'b' as const, undefined) }),
  fc.record({ kind: fc.constantFrom('drain' as const, 'activate' as const, 'remove' as const, 'join' as const, 'down' as const, 'up' as const, 'blink' as const), node: fc.constantFrom(...NAMES) }),
);

describe('a global service through the orchestrator and the scheduler', () => {
  it('keeps one task per eligible node as nodes come, go, change and blink', () => {
    fc.assert(
      fc.property(
        fc.subarray([...NAMES]),
        fc.subarray([...NAMES], { maxLength: 1 }),
        fc.boolean(),
        fc.array(fc.array(arbEvent, { maxLength: 3 }), { minLength: 1, maxLength: 8 }),
        (initial, smallNodes, zoned, rounds) => {
          const small = new Set<string>(smallNodes);
          const placement = { ...spec().placement, constraints: zoned ? ['node.labels.zone == a'] : [] };
          const template = { ...spec().template, resources: { memoryBytes: 64 * Mi } };
          const w: World = {
            service: service({ mode: 'global', replicas: 0, template, placement }),
            nodes: new Map(initial.map((n) => [n, member(n, 'a', small.has(n))])),
            tasks: [],
            rollout: undefined,
            ids: 0,
            touched: new Set(),
          };
          step(w);
          const first = new Map(w.tasks.filter((t) => t.status.state === 'running').map((t) => [t.nodeName!, t.id]));
          for (const events of rounds) {
            for (const e of events) apply(w, e, small);
            step(w);
          }
          // Every node that is left comes back; then the cluster settles.
          for (const [name, n] of w.nodes) w.nodes.set(name, { ...n, state: 'ready', downSince: undefined });
          for (let i = 0; i < 4; i++) step(w);

          const eligible = new Set(eligibleNodes(taskSpec(w.service.spec.template, w.service.spec.placement), [...w.nodes.values()]).map((n) => n.name));
          const live = w.tasks.filter((t) => t.desiredState === 'running' && !isTerminal(t.status.state));
          expect(new Set(live.map((t) => t.targetNode ?? t.nodeName))).toEqual(eligible);
          for (const t of live) {
            if (small.has(t.targetNode!)) expect(t.status).toMatchObject({ state: 'pending', message: '1 node: insufficient memory (needs 64Mi)' });
            else expect(t).toMatchObject({ nodeName: t.targetNode, status: { state: 'running' } });
          }
          // A node nothing happened to but blinks kept the very task it started with.
          for (const [name, id] of first) if (!w.touched.has(name)) expect(live.find((t) => t.nodeName === name)?.id).toBe(id);
        },
      ),
      { numRuns: 300 },
    );
  });
});

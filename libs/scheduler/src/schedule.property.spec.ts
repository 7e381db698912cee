import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseConstraint, type Constraint } from '@berth/core';
import { matchesConstraint } from './filters';
import { servesRuntime, type PendingTask, type PlacedTask, type SchedNode } from './model';
import { portKey } from './node-load';
import { schedule } from './schedule';

/*
 * Properties of the pure scheduler over random clusters that already run tasks, with tasks bound
 * to one node (global services) and tasks spread by a label among the pending ones.
 */

const Mi = 1024 ** 2;
const NAMES = ['n1', 'n2', 'n3', 'n4', 'n5', 'n6'] as const;

const constraint = (text: string): Constraint => {
  const c = parseConstraint(text);
  if (!c.ok) throw new Error(c.reason);
  return c.value;
};

const arbNode: fc.Arbitrary<SchedNode> = fc.record({
  name: fc.constantFrom(...NAMES),
  labels: fc.constantFrom<Record<string, string>>({}, { zone: 'a' }, { zone: 'b' }, { zone: 'a', disk: 'ssd' }, { zone: 'c', disk: 'ssd' }),
  availability: fc.constantFrom('active' as const, 'active' as const, 'pause' as const, 'drain' as const),
  state: fc.constantFrom('ready' as const, 'ready' as const, 'ready' as const, 'down' as const, 'unknown' as const),
  capacity: fc.record({ cpuMillis: fc.integer({ min: 0, max: 4000 }), memoryBytes: fc.integer({ min: 0, max: 2048 }).map((m) => m * Mi) }),
  drivers: fc.constantFrom(['runc'], ['runc', 'qemu'], ['qemu']),
});

const PORTS = [[], [], [{ port: 18080, protocol: 'tcp' as const }], [{ port: 53, protocol: 'udp' as const }], [{ port: 53, protocol: 'udp' as const }, { port: 53, protocol: 'tcp' as const }]];

const arbRequest = fc.record({
  service: fc.constantFrom('web', 'db', 'agent'),
  cpuMillis: fc.constantFrom(0, 250, 500, 1500),
  memoryBytes: fc.constantFrom(0, 64 * Mi, 256 * Mi, 1024 * Mi),
  hostPorts: fc.constantFrom(...PORTS),
});

const arbPending = fc.record({
  request: arbRequest,
  slot: fc.integer({ min: 1, max: 30 }),
  runtime: fc.constantFrom('container' as const, 'container' as const, 'vm' as const),
  constraints: fc.constantFrom([], [constraint('node.labels.zone == a')], [constraint('node.name != n1'), constraint('node.labels.disk == ssd')], [constraint('node.labels.zone != b')]),
  targetNode: fc.option(fc.constantFrom(...NAMES, 'gone'), { nil: undefined, freq: 3 }),
});

// maxPerNode, strategy and spreadBy are settings of a service: every task of a service shares them.
const arbSettings = fc.record({
  maxPerNode: fc.constantFrom(0, 0, 1, 2),
  strategy: fc.constantFrom('spread' as const, 'binpack' as const),
  spreadBy: fc.constantFrom(undefined, 'zone', 'disk'),
});

/** Tasks already on the nodes, kept only while they fit (as the scheduler would have placed them). */
function fitting(nodes: readonly SchedNode[], candidates: readonly { node: string; request: PlacedTask }[]): PlacedTask[] {
  const out: PlacedTask[] = [];
  for (const { node, request } of candidates) {
    const n = nodes.find((x) => x.name === node);
    if (!n) continue;
    const mine = [...out.filter((p) => p.node === node), request];
    const ports = mine.flatMap((p) => p.hostPorts.map(portKey));
    if (sum(mine.map((p) => p.cpuMillis)) > n.capacity.cpuMillis || sum(mine.map((p) => p.memoryBytes)) > n.capacity.memoryBytes || new Set(ports).size !== ports.length) continue;
    out.push(request);
  }
  return out;
}

const arbCluster = fc
  .record({
    nodes: fc.uniqueArray(arbNode, { selector: (n) => n.name, maxLength: 6 }),
    placed: fc.array(fc.record({ node: fc.constantFrom(...NAMES), request: arbRequest }), { maxLength: 12 }),
    settings: fc.record({ web: arbSettings, db: arbSettings, agent: arbSettings }),
    pending: fc.array(arbPending, { maxLength: 40 }),
  })
  .map(({ nodes, placed, settings, pending }) => ({
    nodes,
    placed: fitting(nodes, placed.map(({ node, request }, i) => ({ node, request: { id: `p${i}`, node, ...request } }))),
    pending: pending.map(({ request, targetNode, ...t }, i): PendingTask => {
      const { spreadBy, ...s } = settings[request.service as keyof typeof settings];
      return { id: `t${i}`, ...request, ...t, ...s, ...(spreadBy ? { spreadBy } : {}), ...(targetNode ? { targetNode } : {}) };
    }),
  }));

describe('schedule properties, with placed tasks, bound tasks and spreadBy', () => {
  it('never over-commits a node, never breaks a constraint, never reuses a host port on a node', () => {
    fc.assert(
      fc.property(arbCluster, ({ nodes, placed, pending }) => {
        const r = schedule({ nodes, placed, pending });
        const byId = new Map(pending.map((t) => [t.id, t]));
        for (const n of nodes) {
          const mine = r.placements.filter((p) => p.node === n.name).map((p) => byId.get(p.taskId)!);
          if (mine.length === 0) continue;
          const all = [...placed.filter((p) => p.node === n.name), ...mine];
          expect(sum(all.map((t) => t.memoryBytes))).toBeLessThanOrEqual(n.capacity.memoryBytes);
          expect(sum(all.map((t) => t.cpuMillis))).toBeLessThanOrEqual(n.capacity.cpuMillis);
          const ports = all.flatMap((t) => t.hostPorts.map(portKey));
          expect(new Set(ports).size).toBe(ports.length);
          expect([n.state, n.availability]).toEqual(['ready', 'active']);
          for (const t of mine) {
            expect(t.constraints.every((c) => matchesConstraint(n, c))).toBe(true);
            expect(servesRuntime(n, t.runtime)).toBe(true);
            if (t.maxPerNode > 0) expect(all.filter((o) => o.service === t.service).length).toBeLessThanOrEqual(t.maxPerNode);
          }
        }
      }),
      { numRuns: 300 },
    );
  });

  it('places a bound task on its node or nowhere, explaining it by that node alone', () => {
    fc.assert(
      fc.property(arbCluster, ({ nodes, placed, pending }) => {
        const r = schedule({ nodes, placed, pending });
        const byId = new Map(pending.map((t) => [t.id, t]));
        for (const p of r.placements) {
          const target = byId.get(p.taskId)!.targetNode;
          if (target !== undefined) expect(p.node).toBe(target);
        }
        for (const u of r.unschedulable) {
          const target = byId.get(u.taskId)!.targetNode;
          if (target === undefined) continue;
          const known = nodes.some((n) => n.name === target);
          expect(u.explanation).toMatch(known ? /^1 node: / : new RegExp(`^node ${target} is not in the cluster$`));
        }
        const seen = [...r.placements.map((p) => p.taskId), ...r.unschedulable.map((u) => u.taskId)].sort();
        expect(seen).toEqual(pending.map((t) => t.id).sort());
      }),
      { numRuns: 300 },
    );
  });

  it('is deterministic whatever the input order', () => {
    fc.assert(
      fc.property(arbCluster, fc.integer(), ({ nodes, placed, pending }, seed) => {
        const shuffled = [...pending].sort((a, b) => hash(a.id, seed) - hash(b.id, seed));
        expect(schedule({ nodes: [...nodes].reverse(), placed, pending: shuffled })).toEqual(schedule({ nodes, placed, pending }));
      }),
      { numRuns: 200 },
    );
  });

  it('spreadBy keeps the label values within one task of each other when capacity is ample, whatever the strategy', () => {
    const zoned = fc.uniqueArray(
      fc.record({ name: fc.constantFrom(...NAMES, 'n7', 'n8'), zone: fc.constantFrom(undefined, 'a', 'b', 'c') }),
      { selector: (n) => n.name, minLength: 1, maxLength: 8 },
    );
    fc.assert(
      fc.property(zoned, fc.integer({ min: 0, max: 40 }), fc.constantFrom('spread' as const, 'binpack' as const), (shape, replicas, strategy) => {
        const nodes: SchedNode[] = shape.map(({ name, zone }) => ({
          name,
          labels: zone === undefined ? {} : ({ zone } as Record<string, string>),
          availability: 'active',
          state: 'ready',
          capacity: { cpuMillis: 64_000, memoryBytes: 64 * 1024 * Mi },
          drivers: ['runc'],
        }));
        const pending = Array.from({ length: replicas }, (_, i): PendingTask => ({
          id: `web.${i + 1}`, service: 'web', slot: i + 1, runtime: 'container', cpuMillis: 100, memoryBytes: 64 * Mi, hostPorts: [], constraints: [], maxPerNode: 0, strategy, spreadBy: 'zone',
        }));
        const r = schedule({ nodes, pending });
        expect(r.placements).toHaveLength(replicas);
        const zoneOf = new Map<string, string>(shape.map((n) => [n.name, n.zone ?? '<none>']));
        const perValue = new Map([...new Set(zoneOf.values())].map((v) => [v, 0]));
        for (const p of r.placements) perValue.set(zoneOf.get(p.node)!, perValue.get(zoneOf.get(p.node)!)! + 1);
        expect(Math.max(...perValue.values()) - Math.min(...perValue.values())).toBeLessThanOrEqual(1);
      }),
      { numRuns: 300 },
    );
  });
});

const sum = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0);
const hash = (s: string, seed: number): number => [...s].reduce((h, c) => (h * 31 + c.charCodeAt(0) + seed) | 0, 7);

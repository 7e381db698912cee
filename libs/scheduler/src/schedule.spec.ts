import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseConstraint, type Constraint } from '@berth/core';
import { matchesConstraint } from './filters';
import { servesRuntime, type PendingTask, type PlacedTask, type SchedNode } from './model';
import { portKey } from './node-load';
import { schedule } from './schedule';

const Mi = 1024 ** 2;

function node(name: string, over: Partial<SchedNode> = {}): SchedNode {
  return {
    name,
    labels: {},
    availability: 'active',
    state: 'ready',
    capacity: { cpuMillis: 2000, memoryBytes: 1024 * Mi },
    drivers: ['runc'],
    ...over,
  };
}

function task(service: string, slot: number, over: Partial<PendingTask> = {}): PendingTask {
  return {
    id: `${service}.${slot}`,
    service,
    slot,
    runtime: 'container',
    cpuMillis: 0,
    memoryBytes: 0,
    hostPorts: [],
    constraints: [],
    maxPerNode: 0,
    strategy: 'spread',
    ...over,
  };
}

const constraint = (text: string): Constraint => {
  const c = parseConstraint(text);
  if (!c.ok) throw new Error(c.reason);
  return c.value;
};

describe('schedule', () => {
  it('spreads a service evenly across ready nodes', () => {
    const nodes = [node('a'), node('b'), node('c')];
    const r = schedule({ nodes, pending: [1, 2, 3, 4, 5, 6].map((s) => task('web', s)) });
    const perNode = countBy(r.placements.map((p) => p.node));
    expect(perNode).toEqual({ a: 2, b: 2, c: 2 });
  });

  it('explains why nothing fits, counting nodes per reason', () => {
    const nodes = [
      node('a', { capacity: { cpuMillis: 2000, memoryBytes: 32 * Mi } }),
      node('b', { capacity: { cpuMillis: 2000, memoryBytes: 32 * Mi } }),
      node('c', { capacity: { cpuMillis: 2000, memoryBytes: 32 * Mi } }),
      node('d', { availability: 'drain' }),
    ];
    const r = schedule({ nodes, pending: [task('db', 1, { memoryBytes: 64 * Mi })] });
    expect(r.placements).toEqual([]);
    expect(r.unschedulable).toEqual([
      { taskId: 'db.1', explanation: '3 nodes: insufficient memory (needs 64Mi); 1 node: drained' },
    ]);
  });

  it('says so when the cluster has no nodes', () => {
    expect(schedule({ nodes: [], pending: [task('web', 1)] }).unschedulable[0]?.explanation).toBe('no nodes in the cluster');
  });

  it('counts already placed tasks against capacity and host ports', () => {
    const placed: PlacedTask[] = [
      { id: 'x.1', service: 'x', node: 'a', cpuMillis: 0, memoryBytes: 0, hostPorts: [{ port: 18080, protocol: 'tcp' }] },
    ];
    const r = schedule({
      nodes: [node('a'), node('b')],
      placed,
      pending: [task('web', 1, { hostPorts: [{ port: 18080, protocol: 'tcp' }] }), task('web', 2, { hostPorts: [{ port: 18080, protocol: 'tcp' }] })],
    });
    expect(r.placements).toEqual([{ taskId: 'web.1', node: 'b' }]);
    expect(r.unschedulable[0]?.explanation).toBe('2 nodes: host port 18080/tcp in use');
  });

  it('avoids the nodes that rejected the slot, explaining it without naming them', () => {
    const rejectedBy = new Map([['a', 'host port 18080/tcp is already in use'], ['b', 'host port 18080/tcp is already in use']]);
    const pending = [task('web', 1, { hostPorts: [{ port: 18080, protocol: 'tcp' }], rejectedBy })];
    expect(schedule({ nodes: [node('a'), node('b'), node('c')], pending }).placements).toEqual([{ taskId: 'web.1', node: 'c' }]);
    expect(schedule({ nodes: [node('a'), node('b')], pending }).unschedulable).toEqual([
      { taskId: 'web.1', explanation: "2 nodes: rejected the slot's last task: host port 18080/tcp is already in use" },
    ]);
  });

  it('names what the cluster itself knows about a node before its rejection', () => {
    const rejectedBy = new Map([['a', 'host port 18080/tcp is already in use'], ['b', 'host port 18080/tcp is already in use']]);
    const r = schedule({ nodes: [node('a', { state: 'down' }), node('b', { availability: 'drain' })], pending: [task('web', 1, { rejectedBy })] });
    expect(r.unschedulable[0]?.explanation).toBe('1 node: drained; 1 node: node down');
  });

  it('a rejection by a node no longer in the cluster changes nothing', () => {
    const r = schedule({ nodes: [node('a'), node('b')], pending: [task('web', 1, { rejectedBy: new Map([['x', 'gone node']]) }), task('web', 2)] });
    expect(r.placements.map((p) => p.node).sort()).toEqual(['a', 'b']);
  });

  it('honours label and name constraints', () => {
    const nodes = [node('a', { labels: { zone: 'x' } }), node('b', { labels: { zone: 'y' } }), node('c')];
    const r = schedule({ nodes, pending: [task('web', 1, { constraints: [constraint('node.labels.zone == y')] })] });
    expect(r.placements).toEqual([{ taskId: 'web.1', node: 'b' }]);
    const r2 = schedule({ nodes, pending: [task('web', 1, { constraints: [constraint('node.name != a'), constraint('node.labels.zone != y')] })] });
    expect(r2.placements).toEqual([{ taskId: 'web.1', node: 'c' }]);
  });

  it('binpack fills the fullest node first', () => {
    const nodes = [node('a'), node('b')];
    const pending = [1, 2, 3].map((s) => task('batch', s, { strategy: 'binpack', memoryBytes: 100 * Mi }));
    const r = schedule({ nodes, pending });
    expect(new Set(r.placements.map((p) => p.node)).size).toBe(1);
  });

  it('needs the qemu driver for vm tasks', () => {
    const r = schedule({ nodes: [node('a')], pending: [task('vm', 1, { runtime: 'vm' })] });
    expect(r.unschedulable[0]?.explanation).toBe('1 node: no qemu driver');
  });

  it('goes by the runtimes a node serves, whatever its drivers are called; records without them by their drivers', () => {
    const hollow = node('h', { drivers: ['hollow'], runtimes: ['container'] });
    const r = schedule({ nodes: [hollow], pending: [task('web', 1), task('vm', 1, { runtime: 'vm' })] });
    expect(r.placements).toEqual([{ taskId: 'web.1', node: 'h' }]);
    expect(r.unschedulable).toEqual([{ taskId: 'vm.1', explanation: '1 node: no qemu driver' }]);
    const old = node('o', { drivers: ['runc', 'qemu'] }); // registered before agents reported runtimes
    expect(schedule({ nodes: [old], pending: [task('vm', 1, { runtime: 'vm' })] }).placements).toEqual([{ taskId: 'vm.1', node: 'o' }]);
  });
});

// ---- properties over random clusters -------------------------------------------------------

const arbNode = fc.record({
  name: fc.constantFrom('n1', 'n2', 'n3', 'n4', 'n5'),
  labels: fc.record({ zone: fc.constantFrom('a', 'b') }),
  availability: fc.constantFrom('active', 'active', 'pause', 'drain'),
  state: fc.constantFrom('ready', 'ready', 'down', 'unknown'),
  capacity: fc.record({ cpuMillis: fc.integer({ min: 0, max: 4000 }), memoryBytes: fc.integer({ min: 0, max: 2048 }).map((m) => m * Mi) }),
  drivers: fc.constantFrom(['runc'], ['runc', 'qemu'], ['qemu'], ['hollow']),
  runtimes: fc.constantFrom(undefined, ['container'], ['vm'], ['container', 'vm']),
}).map(({ runtimes, ...n }) => (runtimes ? { ...n, runtimes } : n)) as fc.Arbitrary<SchedNode>;

const arbTask = fc.record({
  service: fc.constantFrom('web', 'db', 'cache'),
  slot: fc.integer({ min: 1, max: 50 }),
  runtime: fc.constantFrom('container', 'container', 'vm'),
  cpuMillis: fc.constantFrom(0, 250, 500, 1000),
  memoryBytes: fc.constantFrom(0, 64 * Mi, 256 * Mi),
  hostPorts: fc.constantFrom([], [], [{ port: 18080, protocol: 'tcp' }], [{ port: 53, protocol: 'udp' }]),
  constraints: fc.constantFrom([], [constraint('node.labels.zone == a')], [constraint('node.name != n1')]),
  maxPerNode: fc.constantFrom(0, 1, 2),
  strategy: fc.constantFrom('spread', 'binpack'),
  rejectedBy: fc.constantFrom(undefined, undefined, new Map([['n1', 'host port 18080/tcp is already in use']]), new Map([['n2', 'x'], ['n3', 'y']])),
}) as fc.Arbitrary<Omit<PendingTask, 'id'>>;

// maxPerNode and strategy are settings of a service, so every task of a service shares them.
const arbServiceSettings = fc.dictionary(
  fc.constantFrom('web', 'db', 'cache'),
  fc.record({ maxPerNode: fc.constantFrom(0, 1, 2), strategy: fc.constantFrom('spread', 'binpack') }),
);

const arbInput = fc.record({
  nodes: fc.uniqueArray(arbNode, { selector: (n) => n.name, maxLength: 5 }),
  settings: arbServiceSettings,
  pending: fc.array(arbTask.map(({ maxPerNode: _m, strategy: _s, ...rest }) => rest), { maxLength: 40 }),
}).map(({ nodes, settings, pending }) => ({
  nodes,
  pending: pending.map((t, i) => ({ ...t, ...(settings[t.service] ?? { maxPerNode: 0, strategy: 'spread' }), id: `t${i}` }) as PendingTask),
}));

describe('schedule properties', () => {
  it('places or explains every task exactly once', () => {
    fc.assert(
      fc.property(arbInput, ({ nodes, pending }) => {
        const r = schedule({ nodes, pending });
        const seen = [...r.placements.map((p) => p.taskId), ...r.unschedulable.map((u) => u.taskId)].sort();
        expect(seen).toEqual(pending.map((t) => t.id).sort());
      }),
    );
  });

  it('never over-commits a node, reuses a host port, or breaks a filter', () => {
    fc.assert(
      fc.property(arbInput, ({ nodes, pending }) => {
        const r = schedule({ nodes, pending });
        const byId = new Map(pending.map((t) => [t.id, t]));
        for (const n of nodes) {
          const mine = r.placements.filter((p) => p.node === n.name).map((p) => byId.get(p.taskId)!);
          if (mine.length === 0) continue;
          expect(n.state).toBe('ready');
          expect(n.availability).toBe('active');
          expect(sum(mine.map((t) => t.memoryBytes))).toBeLessThanOrEqual(n.capacity.memoryBytes);
          expect(sum(mine.map((t) => t.cpuMillis))).toBeLessThanOrEqual(n.capacity.cpuMillis);
          const ports = mine.flatMap((t) => t.hostPorts.map(portKey));
          expect(new Set(ports).size).toBe(ports.length);
          for (const t of mine) {
            expect(servesRuntime(n, t.runtime)).toBe(true);
            expect(t.constraints.every((c) => matchesConstraint(n, c))).toBe(true);
            if (t.maxPerNode > 0) expect(mine.filter((o) => o.service === t.service).length).toBeLessThanOrEqual(t.maxPerNode);
            expect(t.rejectedBy?.has(n.name) ?? false).toBe(false);
          }
        }
      }),
    );
  });

  it('is deterministic whatever the input order', () => {
    fc.assert(
      fc.property(arbInput, fc.integer(), ({ nodes, pending }, seed) => {
        const shuffled = [...pending].sort((a, b) => hash(a.id, seed) - hash(b.id, seed));
        expect(schedule({ nodes, pending: shuffled })).toEqual(schedule({ nodes, pending }));
      }),
    );
  });

  it('spread keeps a service within one task per node of even on identical nodes', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 0, max: 60 }), (n, replicas) => {
        const nodes = Array.from({ length: n }, (_, i) => node(`n${i}`));
        const r = schedule({ nodes, pending: Array.from({ length: replicas }, (_, i) => task('web', i + 1)) });
        const counts = nodes.map((nd) => r.placements.filter((p) => p.node === nd.name).length);
        expect(Math.max(...counts) - Math.min(...counts)).toBeLessThanOrEqual(1);
      }),
    );
  });
});

function countBy(xs: readonly string[]): Record<string, number> {
  return xs.reduce<Record<string, number>>((acc, x) => ({ ...acc, [x]: (acc[x] ?? 0) + 1 }), {});
}
const sum = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0);
const hash = (s: string, seed: number) => [...s].reduce((h, c) => (h * 31 + c.charCodeAt(0) + seed) | 0, 7);

import { describe, expect, it } from 'vitest';
import { parseConstraint, type Constraint } from '@berth/core';
import { eligibleNodes } from './eligible';
import type { PendingTask, PlacedTask, SchedNode } from './model';
import { schedule } from './schedule';
import { taskSpec, type TaskSpec } from './task-spec';

const Mi = 1024 ** 2;

const node = (name: string, over: Partial<SchedNode> = {}): SchedNode => ({
  name,
  labels: {},
  availability: 'active',
  state: 'ready',
  capacity: { cpuMillis: 2000, memoryBytes: 1024 * Mi },
  drivers: ['runc'],
  ...over,
});

const SPEC: TaskSpec = { runtime: 'container', cpuMillis: 0, memoryBytes: 0, hostPorts: [], constraints: [], maxPerNode: 0, strategy: 'spread' };
const task = (service: string, slot: number, over: Partial<PendingTask> = {}): PendingTask => ({ id: `${service}.${slot}`, service, slot, ...SPEC, ...over });

const constraint = (text: string): Constraint => {
  const c = parseConstraint(text);
  if (!c.ok) throw new Error(c.reason);
  return c.value;
};

describe('eligibleNodes', () => {
  it('keeps the nodes that pass the node-level filters: ready, active, serving the runtime, meeting the constraints', () => {
    const nodes = [
      node('a', { labels: { zone: 'x' } }),
      node('b', { labels: { zone: 'y' } }),
      node('c', { labels: { zone: 'x' }, availability: 'drain' }),
      node('d', { labels: { zone: 'x' }, availability: 'pause' }),
      node('e', { labels: { zone: 'x' }, state: 'down' }),
      node('f', { labels: { zone: 'x' }, drivers: ['qemu'] }),
      node('g', { labels: { zone: 'x' }, capacity: { cpuMillis: 0, memoryBytes: 0 } }),
    ];
    const names = eligibleNodes({ ...SPEC, memoryBytes: 64 * Mi, constraints: [constraint('node.labels.zone == x')] }, nodes).map((n) => n.name);
    // Resources are the scheduler's to judge when it places the task (and to explain): g stays.
    expect(names).toEqual(['a', 'g']);
  });

  it('keeps a node that holds its slot while it is down, unknown or paused, never one drained or out of the constraints', () => {
    const nodes = [
      node('a', { state: 'down' }),
      node('b', { state: 'unknown' }),
      node('c', { state: 'down', availability: 'drain' }),
      node('d', { state: 'down', labels: { zone: 'y' } }),
      node('e', { availability: 'pause' }),
      node('f', { availability: 'drain' }),
    ];
    const spec = { ...SPEC, constraints: [constraint('node.labels.zone != y')] };
    expect(eligibleNodes(spec, nodes).map((n) => n.name)).toEqual([]);
    expect(eligibleNodes(spec, nodes, () => true).map((n) => n.name)).toEqual(['a', 'b', 'e']);
  });

  it('reads a spec from a template and a placement as the scheduler snapshot does', () => {
    const template = { runtime: 'vm' as const, image: 'i', env: {}, resources: { memoryBytes: 64 * Mi }, ports: [{ containerPort: 80, hostPort: 8080, protocol: 'tcp' as const }, { containerPort: 81, protocol: 'udp' as const }], volumes: [], stopGracePeriodMs: 0 };
    const spec = taskSpec(template, { constraints: ['node.name != a'], maxPerNode: 1, strategy: 'binpack', spreadBy: 'node.labels.rack' });
    expect(spec).toEqual({ runtime: 'vm', cpuMillis: 0, memoryBytes: 64 * Mi, hostPorts: [{ port: 8080, protocol: 'tcp' }], constraints: [constraint('node.name != a')], maxPerNode: 1, strategy: 'binpack', spreadBy: 'rack' });
  });
});

describe('schedule, tasks bound to a node (targetNode)', () => {
  it('places such a task on its node only, through every filter, and explains it by that node alone', () => {
    const nodes = [node('a', { capacity: { cpuMillis: 2000, memoryBytes: 32 * Mi } }), node('b')];
    const r = schedule({ nodes, pending: [task('agent', 1, { memoryBytes: 64 * Mi, targetNode: 'a' }), task('agent', 2, { memoryBytes: 64 * Mi, targetNode: 'b' })] });
    expect(r.placements).toEqual([{ taskId: 'agent.2', node: 'b' }]);
    expect(r.unschedulable).toEqual([{ taskId: 'agent.1', explanation: '1 node: insufficient memory (needs 64Mi)' }]);
  });

  it('respects host ports, max per node and rejections on its node', () => {
    const placed: PlacedTask[] = [{ id: 'x.1', service: 'x', node: 'a', cpuMillis: 0, memoryBytes: 0, hostPorts: [{ port: 53, protocol: 'udp' }] }];
    const port = schedule({ nodes: [node('a'), node('b')], placed, pending: [task('dns', 1, { hostPorts: [{ port: 53, protocol: 'udp' }], targetNode: 'a' })] });
    expect(port.unschedulable).toEqual([{ taskId: 'dns.1', explanation: '1 node: host port 53/udp in use' }]);
    const rejected = schedule({ nodes: [node('a')], pending: [task('dns', 1, { targetNode: 'a', rejectedBy: new Map([['a', 'port taken']]) })] });
    expect(rejected.unschedulable).toEqual([{ taskId: 'dns.1', explanation: "1 node: rejected the slot's last task: port taken" }]);
  });

  it('says so when its node is no longer in the cluster', () => {
    expect(schedule({ nodes: [node('a')], pending: [task('agent', 1, { targetNode: 'gone' })] }).unschedulable).toEqual([
      { taskId: 'agent.1', explanation: 'node gone is not in the cluster' },
    ]);
  });

  it('places bound tasks before the others: they can go nowhere else', () => {
    // Room for one 600Mi task on a: the global task gets it, the replicated one goes to b.
    const nodes = [node('a'), node('b')];
    const r = schedule({ nodes, pending: [task('aaa', 1, { memoryBytes: 600 * Mi }), task('zzz', 1, { memoryBytes: 600 * Mi, targetNode: 'a' })] });
    expect(r.placements).toEqual([{ taskId: 'zzz.1', node: 'a' }, { taskId: 'aaa.1', node: 'b' }]);
  });
});

describe('schedule, spreadBy', () => {
  const zones = [node('a1', { labels: { zone: 'a' } }), node('a2', { labels: { zone: 'a' } }), node('a3', { labels: { zone: 'a' } }), node('b1', { labels: { zone: 'b' } }), node('x')];

  it('spreads across the label values first (nodes without it are one group), then across nodes', () => {
    const r = schedule({ nodes: zones, pending: [1, 2, 3, 4, 5, 6].map((s) => task('web', s, { spreadBy: 'zone' })) });
    const perNode = countBy(r.placements.map((p) => p.node));
    expect(perNode).toEqual({ a1: 1, a2: 1, b1: 2, x: 2 });
    // Without spreadBy, nodes alone count: zone a takes four of six.
    const plain = countBy(schedule({ nodes: zones, pending: [1, 2, 3, 4, 5, 6].map((s) => task('web', s)) }).placements.map((p) => p.node));
    expect(plain).toEqual({ a1: 2, a2: 1, a3: 1, b1: 1, x: 1 });
  });

  it("counts the service's tasks already placed in each value, and no other service's", () => {
    const placed: PlacedTask[] = [
      { id: 'web.0', service: 'web', node: 'b1', cpuMillis: 0, memoryBytes: 0, hostPorts: [] },
      { id: 'db.1', service: 'db', node: 'a1', cpuMillis: 0, memoryBytes: 0, hostPorts: [] },
      { id: 'db.2', service: 'db', node: 'a2', cpuMillis: 0, memoryBytes: 0, hostPorts: [] },
    ];
    const r = schedule({ nodes: zones.slice(0, 4), placed, pending: [task('web', 1, { spreadBy: 'zone' })] });
    expect(r.placements).toEqual([{ taskId: 'web.1', node: 'a3' }]);
  });

  it('with binpack, spreads across values first, then binpacks within the value', () => {
    const placed: PlacedTask[] = [{ id: 'other.1', service: 'other', node: 'a2', cpuMillis: 0, memoryBytes: 512 * Mi, hostPorts: [] }];
    const nodes = zones.slice(0, 4);
    const r = schedule({ nodes, placed, pending: [1, 2, 3, 4].map((s) => task('batch', s, { spreadBy: 'zone', strategy: 'binpack', memoryBytes: 100 * Mi })) });
    expect(countBy(r.placements.map((p) => p.node))).toEqual({ a2: 2, b1: 2 });
  });

  it('does not mistake a label called like an Object property for one a node has', () => {
    const r = schedule({ nodes: [node('a', { labels: { constructor: 'x' } }), node('b'), node('c')], pending: [1, 2].map((s) => task('web', s, { spreadBy: 'constructor' })) });
    expect(r.placements.map((p) => p.node).sort()).toEqual(['a', 'b']);
  });
});

function countBy(xs: readonly string[]): Record<string, number> {
  return xs.reduce<Record<string, number>>((acc, x) => ({ ...acc, [x]: (acc[x] ?? 0) + 1 }), {});
}

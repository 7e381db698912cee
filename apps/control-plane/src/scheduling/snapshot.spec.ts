import { describe, expect, it } from 'vitest';
import type { TaskState } from '@berth/core';
import { schedule } from '@berth/scheduler';
import type { TaskRecord } from '@berth/store';
import { nodeFixture, serviceFixture, specFixture } from '../testing/fixtures';
import { REJECTION_COOLDOWN_MS, schedulingInput } from './snapshot';

const NOW = Date.parse('2026-01-01T00:10:00Z');
const ago = (ms: number): string => new Date(NOW - ms).toISOString();
const template = { ...specFixture().template, ports: [{ containerPort: 80, hostPort: 18080, protocol: 'tcp' as const }] };
const web = serviceFixture('web');
const nodes = [nodeFixture('a'), nodeFixture('b')];

let seq = 0;
function record(slot: number, state: TaskState, over: { node?: string; updatedAt?: string; message?: string; service?: string } = {}): TaskRecord {
  const done = state !== 'pending';
  return {
    id: `${over.service ?? 'web'}.${slot}.${String(++seq).padStart(10, '0')}`,
    service: over.service ?? 'web',
    slot,
    specGeneration: 1,
    desiredState: done ? 'shutdown' : 'running',
    ...(over.node ? { nodeName: over.node } : {}),
    status: { state, updatedAt: over.updatedAt ?? ago(0), ...(over.message ? { message: over.message } : {}) },
    createdAt: ago(0),
    resourceVersion: String(seq),
    template,
  };
}
const rejectedOn = (node: string, slot: number, agoMs: number, service = 'web'): TaskRecord =>
  record(slot, 'rejected', { node, service, updatedAt: ago(agoMs), message: `host port 18080/tcp is already in use on node ${node}` });

const input = (tasks: TaskRecord[], cooldownMs?: number) =>
  schedulingInput(tasks, (name) => (name === 'web' || name === 'api' ? { ...web, meta: { ...web.meta, name } } : undefined), nodes, {
    now: NOW,
    ...(cooldownMs !== undefined ? { rejectionCooldownMs: cooldownMs } : {}),
  });

describe('schedulingInput', () => {
  it("has a pending task avoid the nodes that rejected its slot, with a reason that does not name them", () => {
    const snap = input([rejectedOn('a', 1, 5_000), rejectedOn('b', 1, 20_000), record(1, 'pending')]);
    expect(snap.pending).toHaveLength(1);
    expect(snap.pending[0]?.rejectedBy).toEqual(
      new Map([
        ['a', 'host port 18080/tcp is already in use'],
        ['b', 'host port 18080/tcp is already in use'],
      ]),
    );
    // b's rejection is the older one: it stops counting first.
    expect(snap.nextExpiryMs).toBe(REJECTION_COOLDOWN_MS - 20_000);
  });

  it('counts a task being stopped as holding its host port and resources until it has ended', () => {
    const stopping = { ...record(1, 'running', { node: 'a' }), desiredState: 'shutdown' as const };
    const snap = input([stopping, record(1, 'pending')]);
    expect(snap.placed).toEqual([{ id: stopping.id, service: 'web', node: 'a', cpuMillis: 0, memoryBytes: 0, hostPorts: [{ port: 18080, protocol: 'tcp' }] }]);
    expect(input([{ ...stopping, status: { ...stopping.status, state: 'shutdown' } }]).placed).toEqual([]);
  });

  it('forgets a rejection once the cooldown has passed', () => {
    const snap = input([rejectedOn('a', 1, REJECTION_COOLDOWN_MS), record(1, 'pending')]);
    expect(snap.pending[0]?.rejectedBy).toBeUndefined();
    expect(snap.nextExpiryMs).toBeUndefined();
    expect(input([rejectedOn('a', 1, 900), record(1, 'pending')], 1_000).nextExpiryMs).toBe(100);
  });

  it('only counts rejections of the same service and slot, and only rejections', () => {
    const snap = input([
      rejectedOn('a', 2, 1_000),
      rejectedOn('a', 1, 1_000, 'api'),
      record(1, 'failed', { node: 'b', message: 'exited with code 1' }),
      record(1, 'pending'),
    ]);
    expect(snap.pending.find((t) => t.service === 'web' && t.slot === 1)?.rejectedBy).toBeUndefined();
    expect(snap.nextExpiryMs).toBeUndefined();
  });

  it('keeps the latest rejection when a node rejected the slot more than once', () => {
    const snap = input([rejectedOn('a', 1, 50_000), rejectedOn('a', 1, 10_000), record(1, 'pending')]);
    expect([...(snap.pending[0]?.rejectedBy?.keys() ?? [])]).toEqual(['a']);
    expect(snap.nextExpiryMs).toBe(REJECTION_COOLDOWN_MS - 10_000);
  });

  it("words the reason without the node's name whatever the name, and gives one when the agent sent none", () => {
    const snap = input([rejectedOn('node-1.lab', 1, 1_000), record(1, 'rejected', { node: 'a', updatedAt: ago(1_000) }), record(1, 'pending')]);
    expect(snap.pending[0]?.rejectedBy).toEqual(
      new Map([
        ['node-1.lab', 'host port 18080/tcp is already in use'],
        ['a', 'the node refused it'],
      ]),
    );
  });
});

describe('schedulingInput: a task is placed by its own spec', () => {
  const zoned = { constraints: ['node.labels.zone == a'], maxPerNode: 1, strategy: 'binpack' as const, spreadBy: 'node.labels.rack' };

  it("takes the placement copied into the task, not the service's current one", () => {
    const own = { ...record(1, 'pending'), placement: zoned };
    const [t] = input([own]).pending;
    expect(t).toMatchObject({ constraints: [{ attribute: { kind: 'label', key: 'zone' }, op: '==', value: 'a' }], maxPerNode: 1, strategy: 'binpack', spreadBy: 'rack' });
  });

  it("falls back to the service's placement for a record stored without one", () => {
    const [t] = input([record(1, 'pending')]).pending;
    expect(t).toMatchObject({ constraints: [], maxPerNode: web.spec.placement.maxPerNode, strategy: web.spec.placement.strategy });
    expect(t?.spreadBy).toBeUndefined();
  });

  it('binds a global task to its target node, and its stop-first replacement waits there for the port of the task being stopped', () => {
    const stopping = { ...record(1, 'running', { node: 'a' }), targetNode: 'a', desiredState: 'shutdown' as const };
    const next = { ...record(1, 'pending'), targetNode: 'a' };
    const snap = input([stopping, next]);
    expect(snap.pending[0]?.targetNode).toBe('a');
    expect(schedule(snap).unschedulable).toEqual([{ taskId: next.id, explanation: '1 node: host port 18080/tcp in use' }]);
    const stopped = { ...stopping, status: { ...stopping.status, state: 'shutdown' as const } };
    expect(schedule(input([stopped, next])).placements).toEqual([{ taskId: next.id, node: 'a' }]);
  });
});

import { describe, expect, it } from 'vitest';
import type { NodeInfo, Task } from '@berth/core';
import { FailoverTracker } from './failover-watch';

const T0 = Date.parse('2026-01-01T00:00:00Z');
const node = (name: string, over: Partial<NodeInfo> = {}): NodeInfo => ({
  name, labels: {}, availability: 'active', state: 'ready', address: '10.0.0.1', capacity: { cpuMillis: 1000, memoryBytes: 2 ** 30 }, drivers: ['runc'], resourceVersion: '1', ...over,
});
const down = (name: string, atMs = T0) => node(name, { state: 'down', downSince: new Date(atMs).toISOString() });
const task = (id: string, over: Partial<Task> = {}): Task => ({
  id, service: id.split('.')[0]!, slot: 1, specGeneration: 1, desiredState: 'running', nodeName: 'n1',
  status: { state: 'running', updatedAt: '' }, createdAt: '', resourceVersion: '1', ...over,
});
const replacement = (id: string, replaces: string, state: Task['status']['state'] = 'running') => task(id, { nodeName: 'n2', replaces, status: { state, updatedAt: '' } });
const replicated = () => true;

describe('FailoverTracker', () => {
  it("times a failover from the node's downSince to the last of its tasks' replacements being up", () => {
    const f = new FailoverTracker();
    f.node(down('n1'), [task('web.1.a'), task('db.1.b')], replicated);
    expect(f.task(replacement('web.1.c', 'web.1.a', 'starting'), T0 + 3_000)).toBeUndefined();
    expect(f.task(replacement('web.1.c', 'web.1.a'), T0 + 4_000)).toBeUndefined();
    expect(f.task(replacement('db.1.d', 'db.1.b'), T0 + 6_500)).toBe(6.5);
    expect(f.pending).toBe(0);
  });

  it('waits for a health check to pass before a replacement counts as up', () => {
    const f = new FailoverTracker();
    f.node(down('n1'), [task('web.1.a')], replicated);
    expect(f.task({ ...replacement('web.1.c', 'web.1.a'), status: { state: 'running', health: 'starting', updatedAt: '' } }, T0 + 2_000)).toBeUndefined();
    expect(f.task({ ...replacement('web.1.c', 'web.1.a'), status: { state: 'running', health: 'healthy', updatedAt: '' } }, T0 + 5_000)).toBe(5);
  });

  it('ends without a figure when the node comes back first, and counts a node down once', () => {
    const f = new FailoverTracker();
    f.node(down('n1'), [task('web.1.a')], replicated);
    f.node(down('n1'), [task('web.1.a')], replicated);
    f.node(node('n1'), [task('web.1.a')], replicated);
    expect(f.pending).toBe(0);
    expect(f.task(replacement('web.1.c', 'web.1.a'), T0 + 9_000)).toBeUndefined();
  });

  it('does not wait for global tasks, stopped tasks or finished ones; a node with nothing to replace starts no failover', () => {
    const f = new FailoverTracker();
    f.node(down('n1'), [task('agentd.1.a'), task('web.1.b', { desiredState: 'shutdown' }), task('web.2.c', { status: { state: 'complete', updatedAt: '' } })], (s) => s !== 'agentd');
    expect(f.pending).toBe(0);
  });
});

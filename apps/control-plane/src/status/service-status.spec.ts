import { describe, expect, it } from 'vitest';
import { nodeFixture, serviceFixture, specFixture, taskFixture } from '../testing/fixtures';
import { computeServiceStatus, sameStatus } from './service-status';

const NOW = '2026-01-01T00:00:00.000Z';

describe('computeServiceStatus', () => {
  it('wants spec.replicas for a replicated service and counts no tasks when none run', () => {
    const s = computeServiceStatus(serviceFixture('web', { spec: { replicas: 3 } }), [], [], NOW);
    expect(s).toEqual({ desired: 3, running: 0, updated: 0, observedGeneration: 1, updatedAt: NOW });
  });

  it('counts only tasks that run and are meant to run', () => {
    const tasks = [
      taskFixture('web', 1),
      taskFixture('web', 2, { state: 'starting' }),
      taskFixture('web', 3, { desired: 'shutdown' }), // still running, but being stopped
      taskFixture('web', 4, { state: 'failed' }),
    ];
    expect(computeServiceStatus(serviceFixture('web'), tasks, [], NOW).running).toBe(1);
  });

  it('counts a task with a health check as running only once it is healthy', () => {
    const checked = { ...specFixture().template, healthCheck: { exec: ['true'], intervalMs: 1000, timeoutMs: 1000, retries: 3, startPeriodMs: 0 } };
    const withHealth = (slot: number, health?: 'starting' | 'healthy' | 'unhealthy') => {
      const t = taskFixture('web', slot);
      return { ...t, template: checked, status: { ...t.status, ...(health ? { health } : {}) } };
    };
    const tasks = [withHealth(1, 'healthy'), withHealth(2, 'starting'), withHealth(3, 'unhealthy'), withHealth(4)];
    const service = serviceFixture('web', { spec: { replicas: 4, template: checked } });
    expect(computeServiceStatus(service, tasks, [], NOW)).toMatchObject({ desired: 4, running: 1, updated: 1 });
  });

  it('counts a task without a health check as running as soon as it runs', () => {
    const t = taskFixture('web', 1);
    expect(computeServiceStatus(serviceFixture('web'), [{ ...t, template: specFixture().template }], [], NOW).running).toBe(1);
  });

  it('counts as updated only running tasks of the current generation', () => {
    const tasks = [taskFixture('web', 1, { generation: 1 }), taskFixture('web', 2, { generation: 2 }), taskFixture('web', 3, { generation: 2, state: 'pending' })];
    const s = computeServiceStatus(serviceFixture('web', { generation: 2 }), tasks, [], NOW);
    expect(s).toMatchObject({ running: 2, updated: 1, observedGeneration: 2 });
  });

  it('ignores tasks of other services', () => {
    expect(computeServiceStatus(serviceFixture('web'), [taskFixture('db', 1)], [], NOW).running).toBe(0);
  });

  it('wants one task per ready, active node for a global service', () => {
    const nodes = [
      nodeFixture('a'),
      nodeFixture('b'),
      nodeFixture('c', { state: 'down' }),
      nodeFixture('d', { availability: 'drain' }),
      nodeFixture('e', { availability: 'pause' }),
      nodeFixture('f', { state: 'unknown' }),
    ];
    const s = computeServiceStatus(serviceFixture('agent', { spec: { mode: 'global', replicas: 1 } }), [], nodes, NOW);
    expect(s.desired).toBe(2);
  });

  it('wants a global service only on the nodes that meet its constraints and serve its runtime', () => {
    const nodes = [{ ...nodeFixture('a'), labels: { zone: 'x' } }, { ...nodeFixture('b'), labels: { zone: 'y' } }, { ...nodeFixture('c'), labels: { zone: 'x' }, drivers: ['qemu'] }];
    const placement = { constraints: ['node.labels.zone == x'], maxPerNode: 0, strategy: 'spread' as const };
    const s = computeServiceStatus(serviceFixture('agent', { spec: { mode: 'global', replicas: 0, placement } }), [], nodes, NOW);
    expect(s.desired).toBe(1);
  });
});

describe('sameStatus', () => {
  it('ignores the timestamp but nothing else', () => {
    const a = computeServiceStatus(serviceFixture('web'), [], [], NOW);
    expect(sameStatus(a, { ...a, updatedAt: '2027-01-01T00:00:00.000Z' })).toBe(true);
    expect(sameStatus(a, { ...a, running: 1 })).toBe(false);
    expect(sameStatus(a, { ...a, observedGeneration: 2 })).toBe(false);
  });
});

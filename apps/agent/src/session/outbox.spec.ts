import { describe, expect, it } from 'vitest';
import type { TaskState } from '@berth/core';
import { TaskHealth, TaskState as Wire } from '@berth/proto';
import type { LocalTask } from '../worker/model';
import { StatusOutbox } from './outbox';

const task = (id: string, state: TaskState): LocalTask => ({
  assignment: { taskId: id, service: 'web', slot: 1, specGeneration: 1, desiredState: 'running',
    spec: { runtime: 'container', image: 'oci:/x:1', env: {}, resources: {}, ports: [], volumes: [], stopGracePeriodMs: 1 } },
  status: { state, updatedAt: '2026-01-01T00:00:00.000Z' },
});

describe('StatusOutbox', () => {
  it('sends the newest status of each task once per connection, in order', () => {
    const box = new StatusOutbox();
    box.add(task('a', 'starting'));
    box.add(task('b', 'starting'));
    box.add(task('a', 'running'));
    expect(box.takeUnsent().map((s) => [s.taskId, s.state, s.seq])).toEqual([
      ['b', Wire.TASK_STATE_STARTING, 2],
      ['a', Wire.TASK_STATE_RUNNING, 3],
    ]);
    expect(box.takeUnsent()).toEqual([]);
  });

  it('re-sends what was not acknowledged after a reconnect, and nothing acknowledged', () => {
    const box = new StatusOutbox();
    box.add(task('a', 'running'));
    box.add(task('b', 'running'));
    box.takeUnsent();
    box.ack(1);
    box.resendAll();
    expect(box.takeUnsent().map((s) => s.taskId)).toEqual(['b']);
    box.ack(2);
    expect(box.size).toBe(0);
  });

  it('sends a health change of a running task as a new status, and no health for a task without a check', () => {
    const box = new StatusOutbox();
    box.add(task('a', 'running'));
    box.add({ ...task('b', 'running'), status: { state: 'running', health: 'starting', updatedAt: '2026-01-01T00:00:00.000Z' } });
    box.add({ ...task('b', 'running'), status: { state: 'running', health: 'healthy', updatedAt: '2026-01-01T00:00:01.000Z' } });
    expect(box.takeUnsent().map((s) => [s.taskId, s.state, s.health, s.seq])).toEqual([
      ['a', Wire.TASK_STATE_RUNNING, TaskHealth.TASK_HEALTH_UNSPECIFIED, 1],
      ['b', Wire.TASK_STATE_RUNNING, TaskHealth.TASK_HEALTH_HEALTHY, 3],
    ]);
  });
});

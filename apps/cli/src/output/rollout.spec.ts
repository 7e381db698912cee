import type { ServiceView, TaskView } from '@berth/api';
import type { TaskState } from '@berth/core';
import { describe, expect, it } from 'vitest';
import { webService } from './__fixtures__/views';
import { assessService, learnTarget, revisionTarget, taskOutcome, timeoutMessage, waitTarget } from './rollout';

function svc(status: ServiceView['status'], spec: Partial<ServiceView['spec']> = {}): ServiceView {
  return { ...webService, spec: { ...webService.spec, ...spec }, status };
}

function task(id: string, state: TaskState, extra: { desired?: 'running' | 'shutdown'; message?: string; exitCode?: number; health?: 'starting' | 'healthy' } = {}): TaskView {
  const slot = Number(id.split('.')[1]);
  return {
    metadata: { name: id, service: 'web', slot, createdAt: '2026-03-01T11:58:00Z' },
    spec: { desiredState: extra.desired ?? 'running', node: 'n1' },
    status: {
      state,
      ...(extra.message ? { message: extra.message } : {}),
      ...(extra.exitCode === undefined ? {} : { exitCode: extra.exitCode }),
      ...(extra.health ? { health: extra.health } : {}),
    },
  };
}

const fresh = waitTarget('web', undefined, [], svc({ desired: 3, running: 0, updated: 0 }));

describe('assessService', () => {
  it('is done when every desired task runs on the current spec and nothing is left to start', () => {
    const tasks = [task('web.1.a', 'running'), task('web.2.b', 'running'), task('web.3.c', 'running')];
    expect(assessService(fresh, svc({ desired: 3, running: 3, updated: 3 }), tasks)).toEqual({ kind: 'done', line: 'web: 3/3 running' });
  });

  it('waits while tasks are missing, and explains pending ones with the scheduler message', () => {
    const pending = task('web.3.c', 'pending', { message: '3 nodes: insufficient memory (needs 64Mi)' });
    const a = assessService(fresh, svc({ desired: 3, running: 2, updated: 2 }), [task('web.1.a', 'running'), task('web.2.b', 'running'), pending]);
    expect(a).toEqual({
      kind: 'waiting',
      line: 'web: 2/3 running',
      missing: 'web: 2/3 running (1 more to run; web.3.c: pending: 3 nodes: insufficient memory (needs 64Mi))',
    });
  });

  it('waits for running tasks with a health check to turn healthy, and says so', () => {
    const tasks = [task('web.1.a', 'running', { health: 'healthy' }), task('web.2.b', 'running', { health: 'starting' }), task('web.3.c', 'running', { health: 'starting' })];
    const a = assessService(fresh, svc({ desired: 3, running: 1, updated: 1 }), tasks);
    expect(a).toMatchObject({ kind: 'waiting', missing: 'web: 1/3 running (2 more to run; 2 tasks not healthy yet)' });
    const healthy = tasks.map((t) => ({ ...t, status: { ...t.status, health: 'healthy' as const } }));
    expect(assessService(fresh, svc({ desired: 3, running: 3, updated: 3 }), healthy)).toMatchObject({ kind: 'done' });
  });

  it('fails as soon as a new task fails its health check, with the reason', () => {
    const message = 'health check failed 2 times in a row: exited with code 1';
    const a = assessService(fresh, svc({ desired: 1, running: 0, updated: 0 }), [task('web.1.a', 'failed', { message, exitCode: 137 })]);
    expect(a).toMatchObject({ kind: 'failed', message: `web.1.a: failed: ${message}` });
  });

  it('does not trust a status the leader has not recomputed for the new replica count', () => {
    const tasks = [task('web.1.a', 'running'), task('web.2.b', 'running'), task('web.3.c', 'running')];
    const a = assessService(fresh, svc({ desired: 3, running: 3, updated: 3 }, { replicas: 5 }), tasks);
    expect(a).toMatchObject({ kind: 'waiting', missing: 'web: 3/3 running (status not yet updated for 5 replicas)' });
  });

  it('after a spec change waits until the old tasks are gone, even while the status still counts them', () => {
    const oldTasks = [task('web.1.a', 'running')];
    const before = svc({ desired: 1, running: 1, updated: 1 }, { replicas: 1 });
    const after = svc({ desired: 1, running: 1, updated: 1 }, { replicas: 1, template: { ...webService.spec.template, image: 'busybox:2' } });
    const target = waitTarget('web', before, oldTasks, after);
    expect(assessService(target, after, oldTasks)).toMatchObject({ kind: 'waiting', missing: 'web: 1/1 running (1 old task still live)' });
    const replaced = [task('web.1.a', 'shutdown', { desired: 'shutdown' }), task('web.1.n', 'running')];
    expect(assessService(target, after, replaced)).toMatchObject({ kind: 'done' });
  });

  it('a pure scale replaces nothing but waits for surplus tasks to stop', () => {
    const before = svc({ desired: 2, running: 2, updated: 2 }, { replicas: 2 });
    const after = svc({ desired: 1, running: 1, updated: 1 }, { replicas: 1 });
    const target = waitTarget('web', before, [task('web.1.a', 'running'), task('web.2.b', 'running')], after);
    expect(target.replaced.size).toBe(0);
    const stopping = [task('web.1.a', 'running'), task('web.2.b', 'running', { desired: 'shutdown' })];
    expect(assessService(target, after, stopping)).toMatchObject({ kind: 'waiting', missing: 'web: 1/1 running (1 task still stopping)' });
    expect(assessService(target, after, [task('web.1.a', 'running'), task('web.2.b', 'shutdown', { desired: 'shutdown' })]).kind).toBe('done');
  });

  it('waits for running tasks of an older spec to be updated', () => {
    const a = assessService(fresh, svc({ desired: 2, running: 2, updated: 1 }, { replicas: 2 }), [task('web.1.a', 'running'), task('web.2.b', 'running')]);
    expect(a).toMatchObject({ kind: 'waiting', missing: 'web: 2/2 running (1 of 2 running on an older spec)' });
  });

  it('fails on a task created after the write that failed or was rejected, with its message', () => {
    const failed = task('web.2.x8f3', 'failed', { message: 'exec: "nope": executable file not found', exitCode: 127 });
    expect(assessService(fresh, svc({ desired: 3, running: 1, updated: 1 }), [task('web.1.a', 'running'), failed])).toEqual({
      kind: 'failed',
      line: 'web: 1/3 running',
      message: 'web.2.x8f3: failed: exec: "nope": executable file not found',
    });
  });

  it('ignores failures that happened before the write', () => {
    const old = task('web.2.old', 'failed', { message: 'out of memory' });
    const target = waitTarget('web', svc({ desired: 3, running: 2, updated: 2 }), [old], svc({ desired: 3, running: 2, updated: 2 }));
    expect(assessService(target, svc({ desired: 3, running: 2, updated: 2 }), [old, task('web.1.a', 'running')]).kind).toBe('waiting');
  });
});

describe('a service whose revision the write changed', () => {
  const before = { ...svc({ desired: 2, running: 2, updated: 2 }, { replicas: 2 }), metadata: { ...webService.metadata, revision: 2 } };
  const written = { ...before, metadata: { ...webService.metadata, revision: 3 }, spec: { ...before.spec, template: { ...before.spec.template, image: 'busybox:2' } } };
  const oldTasks = [task('web.1.a', 'running'), task('web.2.b', 'running')];
  const target = waitTarget('web', before, oldTasks, written);
  const rollout = { revision: 3, state: 'updating' as const, previousRevision: 2, total: 2, updated: 1, failed: 0, startedAt: '2026-03-01T12:00:00Z', updatedAt: '2026-03-01T12:00:00Z' };

  it('is followed through its rollout, a rollback returning to the revision before the write', () => {
    expect(target.rollout).toEqual({ revision: 3, previous: 2 });
    // A new service, a pure scale or a server without revisions: no rollout to follow.
    expect(waitTarget('web', undefined, [], written).rollout).toBeUndefined();
    expect(waitTarget('web', before, oldTasks, { ...before, spec: { ...before.spec, replicas: 5 } }).rollout).toBeUndefined();
  });

  it('leaves failed new tasks to the rollout, and explains what is missing while it updates', () => {
    const now = { ...written, status: { desired: 2, running: 1, updated: 1, rollout } };
    const tasks = [task('web.1.a', 'running'), task('web.2.n', 'failed', { message: 'exited with code 3' })];
    expect(assessService(target, now, tasks)).toEqual({
      kind: 'waiting',
      line: 'web: updating 1/2 (revision 3; 1/2 running)',
      missing: 'web: updating 1/2 (revision 3; 1/2 running) (1 more to run; 1 old task still live)',
    });
  });

  it('is done once the rollout completed and the old tasks are gone', () => {
    const now = { ...written, status: { desired: 2, running: 2, updated: 2, rollout: { ...rollout, state: 'completed' as const, updated: 2 } } };
    const tasks = [task('web.1.n', 'running'), task('web.2.n', 'running'), task('web.1.a', 'shutdown', { desired: 'shutdown' }), task('web.2.b', 'shutdown', { desired: 'shutdown' })];
    expect(assessService(target, now, tasks)).toEqual({ kind: 'done', line: 'web: updated 2/2 (revision 3)' });
  });

  it('learnTarget keeps a target without rollout as it is, and learns from the record', () => {
    expect(learnTarget(fresh, written)).toBe(fresh);
    const learned = learnTarget(target, { ...written, status: { desired: 2, running: 2, updated: 2, rollout: { ...rollout, previousRevision: 1 } } });
    expect(learned.rollout).toEqual({ revision: 3, previous: 1 });
  });

  it('revisionTarget follows the current revision of a service', () => {
    expect(revisionTarget(written)).toEqual({ service: 'web', before: new Set(), replaced: new Set(), rollout: { revision: 3 } });
    expect(revisionTarget(written, 2).rollout).toEqual({ revision: 3, previous: 2 });
  });
});

describe('taskOutcome and timeoutMessage', () => {
  it('falls back to the exit code when a task has no message', () => {
    expect(taskOutcome(task('web.1.a', 'failed', { exitCode: 3 }))).toBe('web.1.a: failed: exit code 3');
    expect(taskOutcome(task('web.1.a', 'rejected'))).toBe('web.1.a: rejected');
  });

  it('lists what is missing per service under the headline', () => {
    expect(timeoutMessage('5m', ['web: 2/3 running (1 more to run)', 'api: 0/1 running (1 more to run)'])).toBe(
      'timed out after 5m waiting for the services to converge; still missing:\n  web: 2/3 running (1 more to run)\n  api: 0/1 running (1 more to run)',
    );
  });
});

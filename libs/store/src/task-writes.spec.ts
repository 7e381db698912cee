import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { TASK_HEALTH, TASK_STATES, canTransition, isTaskUp, type TaskHealth, type TaskState, type TaskTemplate } from '@berth/core';
import type { TaskRecord } from './store';
import { MAX_TASK_ID, applyReport, assignTask, markUnschedulable, newTaskId, newTaskRecord, orphanTask, shutdownTask, taskEvents } from './task-writes';

const template: TaskTemplate = { runtime: 'container', image: 'oci:/x:1', env: {}, resources: {}, ports: [], volumes: [], stopGracePeriodMs: 1 };
const pending = (): TaskRecord => newTaskRecord('web', { slot: 2, specGeneration: 3, template }, '2026-01-01T00:00:00.000Z', 'web.2.abcdefghij');

describe('task writes', () => {
  it('names tasks <service>.<slot>.<10 base36 chars>, a new name every time', () => {
    const ids = new Set(Array.from({ length: 100 }, () => newTaskId('web', 7)));
    expect(ids.size).toBe(100);
    for (const id of ids) expect(id).toMatch(/^web\.7\.[0-9a-z]{10}$/);
  });

  it('keeps every id within 64 characters: the longest service name (48) with replicas up to 10000', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 48 }), fc.integer({ min: 0, max: 99_999 }), (length, slot) => {
        const id = newTaskId('w'.repeat(length), slot);
        expect(id.length).toBeLessThanOrEqual(MAX_TASK_ID);
        expect(id).toMatch(/\.[0-9a-z]{9,10}$/);
      }),
    );
  });

  it('creates pending tasks that want to run, with no node: a global task only names its target', () => {
    expect(pending()).toMatchObject({ service: 'web', slot: 2, specGeneration: 3, desiredState: 'running', status: { state: 'pending' }, template });
    expect(pending().nodeName).toBeUndefined();
    const placement = { constraints: ['node.labels.zone == a'], maxPerNode: 0, strategy: 'spread' as const };
    const targeted = newTaskRecord('agentd', { slot: 1, specGeneration: 1, targetNode: 'n1', template, placement }, 'now');
    expect(targeted).toMatchObject({ targetNode: 'n1', placement, status: { state: 'pending' } });
    expect(targeted.nodeName).toBeUndefined();
    expect(targeted.status.node).toBeUndefined();
    expect(assignTask('n1', 'now')(targeted)).toMatchObject({ nodeName: 'n1', targetNode: 'n1', status: { state: 'assigned', node: 'n1' } });
  });

  it('assigns a node once, and only to a pending task that is still wanted', () => {
    const assigned = assignTask('n1', 'now')(pending());
    expect(assigned).toMatchObject({ nodeName: 'n1', status: { state: 'assigned', node: 'n1' } });
    expect(assignTask('n2', 'now')(assigned!)).toBeUndefined();
    expect(assignTask('n1', 'now')(shutdownTask('now')(pending())!)).toBeUndefined();
  });

  it('records a never-placed task as shut down at once, a placed one only as desired shutdown', () => {
    expect(shutdownTask('now')(pending())).toMatchObject({ desiredState: 'shutdown', status: { state: 'shutdown' } });
    const placed = assignTask('n1', 'now')(pending())!;
    expect(shutdownTask('now')(placed)).toMatchObject({ desiredState: 'shutdown', status: { state: 'assigned' } });
    expect(shutdownTask('now')(shutdownTask('now')(placed)!)).toBeUndefined();
  });

  it('writes an unschedulable explanation only when it changed', () => {
    const noted = markUnschedulable('1 node: drained', 'now')(pending());
    expect(noted?.status.message).toBe('1 node: drained');
    expect(markUnschedulable('1 node: drained', 'later')(noted!)).toBeUndefined();
  });

  it('takes agent reports forward-only, from the task’s own node, and skips repeats', () => {
    const onN1 = assignTask('n1', 'now')(pending())!;
    const report = (state: 'running' | 'starting', pid?: number) => ({ taskId: onN1.id, status: { state, ...(pid ? { pid } : {}), updatedAt: 'later' } });
    expect(applyReport('n2', report('running'))(onN1)).toBeUndefined();
    const running = applyReport('n1', report('running', 5))(onN1)!;
    expect(running.status).toEqual({ state: 'running', pid: 5, node: 'n1', updatedAt: 'later', upAt: 'later' });
    expect(applyReport('n1', report('starting'))(running)).toBeUndefined();
    expect(applyReport('n1', { ...report('running', 5), status: { state: 'running', pid: 5, updatedAt: 'even later' } })(running)).toBeUndefined();
  });

  it('writes a health change of a task that stays running, and skips a repeated health', () => {
    const running = applyReport('n1', { taskId: 'x', status: { state: 'running', pid: 5, health: 'starting', updatedAt: 't1' } })(assignTask('n1', 'now')(pending())!)!;
    const healthy = applyReport('n1', { taskId: 'x', status: { state: 'running', pid: 5, health: 'healthy', updatedAt: 't2' } })(running);
    expect(healthy?.status).toEqual({ state: 'running', pid: 5, health: 'healthy', node: 'n1', updatedAt: 't2', upAt: 't2' });
    expect(applyReport('n1', { taskId: 'x', status: { state: 'running', pid: 5, health: 'healthy', updatedAt: 't3' } })(healthy!)).toBeUndefined();
  });

  it('remembers when a task was first up (healthy, when checked), whatever comes after', () => {
    const running = applyReport('n1', { taskId: 'x', status: { state: 'running', pid: 5, health: 'starting', updatedAt: 't1' } })(assignTask('n1', 'now')(pending())!)!;
    expect(running.status.upAt).toBeUndefined();
    const healthy = applyReport('n1', { taskId: 'x', status: { state: 'running', pid: 5, health: 'healthy', updatedAt: 't2' } })(running)!;
    const unhealthy = applyReport('n1', { taskId: 'x', status: { state: 'running', pid: 5, health: 'unhealthy', updatedAt: 't3' } })(healthy)!;
    const failed = applyReport('n1', { taskId: 'x', status: { state: 'failed', exitCode: 137, health: 'unhealthy', updatedAt: 't4' } })(unhealthy)!;
    expect([healthy.status.upAt, unhealthy.status.upAt, failed.status.upAt]).toEqual(['t2', 't2', 't2']);
  });

  it('never moves a state backwards, whatever the health says', () => {
    const state = fc.constantFrom(...TASK_STATES);
    const health = fc.option(fc.constantFrom(...TASK_HEALTH), { nil: undefined });
    fc.assert(
      fc.property(state, health, state, health, (from: TaskState, h1: TaskHealth | undefined, to: TaskState, h2: TaskHealth | undefined) => {
        const status = { state: from, node: 'n1', ...(h1 ? { health: h1 } : {}), updatedAt: 't1' };
        // As stored: a task that is up has been since some time (upAt), first recorded then.
        const stored: TaskRecord = { ...assignTask('n1', 'now')(pending())!, status: { ...status, ...(isTaskUp({ status }) ? { upAt: 't0' } : {}) } };
        const written = applyReport('n1', { taskId: stored.id, status: { state: to, ...(h2 ? { health: h2 } : {}), updatedAt: 't2' } })(stored);
        if (!canTransition(from, to)) expect(written).toBeUndefined();
        else if (from !== to || h1 !== h2) expect([written?.status.state, written?.status.health]).toEqual([to, h2]);
        else expect(written).toBeUndefined();
      }),
      { numRuns: 1000 },
    );
  });
});

describe('task events', () => {
  const told = (before: TaskRecord, after: TaskRecord | undefined) => taskEvents(before, after!).map((e) => `${e.reason} [${e.node ?? '-'}]: ${e.message}`);
  const report = (t: TaskRecord, status: Omit<TaskRecord['status'], 'node' | 'updatedAt'>) => applyReport('n1', { taskId: t.id, status: { ...status, updatedAt: 'now' } })(t)!;

  it('tells the life of a task: scheduled, started, unhealthy, failed with its reason', () => {
    const assigned = assignTask('n1', 'now')(pending())!;
    expect(told(pending(), assigned)).toEqual(['Scheduled [n1]: scheduled on n1']);
    const running = report(assigned, { state: 'running', ip: '10.88.0.5', health: 'starting' });
    expect(told(assigned, running)).toEqual(['Started [n1]: started on n1 (10.88.0.5)']);
    expect(told(running, report(running, { state: 'running', ip: '10.88.0.5', health: 'healthy' }))).toEqual([]);
    const sick = report(running, { state: 'failed', health: 'unhealthy', message: 'health check failed 3 times: exit 1' });
    expect(told(running, sick)).toEqual(['Failed [n1]: failed: health check failed 3 times: exit 1', 'Unhealthy [n1]: unhealthy: health check failed 3 times: exit 1']);
    expect(taskEvents(running, sick)[0]).toMatchObject({ kind: 'task', object: 'web.2.abcdefghij', service: 'web' });
  });

  it('tells how it ended: completed, stopped, orphaned; and says nothing when nothing it tells changed', () => {
    const running = report(assignTask('n1', 'now')(pending())!, { state: 'running' });
    expect(told(running, report(running, { state: 'complete', exitCode: 0 }))).toEqual(['Completed [n1]: completed: exited with code 0']);
    expect(told(running, report(running, { state: 'shutdown' }))).toEqual(['Stopped [n1]: stopped']);
    expect(told(running, orphanTask('node n1 is down; replaced by web.2.x', 'now')(running))).toEqual(['Orphaned [n1]: orphaned: node n1 is down; replaced by web.2.x']);
    expect(told(running, shutdownTask('now')(running))).toEqual([]);
    expect(told(pending(), shutdownTask('now')(pending()))).toEqual(['Stopped [-]: stopped: stopped before it was placed on a node']);
  });
});

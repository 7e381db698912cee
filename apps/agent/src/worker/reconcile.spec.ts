import { describe, expect, it } from 'vitest';
import type { TaskState } from '@berth/core';
import type { Assignment, LocalTask } from './model';
import { planWorker } from './reconcile';

const assignment = (taskId: string, desiredState: 'running' | 'shutdown' = 'running'): Assignment => ({
  taskId, service: 'web', slot: 1, specGeneration: 1, desiredState,
  spec: { runtime: 'container', image: 'oci:/x:1', env: {}, resources: {}, ports: [], volumes: [], stopGracePeriodMs: 1000 },
});
const local = (taskId: string, state: TaskState): LocalTask => ({ assignment: assignment(taskId), status: { state, updatedAt: '' } });
const byId = <T extends { taskId: string } | LocalTask>(xs: T[]) =>
  new Map(xs.map((x) => ['taskId' in x ? x.taskId : x.assignment.taskId, x]));

describe('planWorker', () => {
  it('starts what is assigned and unknown, and nothing twice', () => {
    const assigned = byId([assignment('a'), assignment('b')]);
    const plan = planWorker(assigned as Map<string, Assignment>, byId([local('a', 'running')]) as Map<string, LocalTask>);
    expect(plan.start.map((a) => a.taskId)).toEqual(['b']);
    expect(plan.stop).toEqual([]);
  });

  it('never restarts a finished task in place', () => {
    const plan = planWorker(byId([assignment('a')]) as Map<string, Assignment>, byId([local('a', 'failed')]) as Map<string, LocalTask>);
    expect(plan).toEqual({ start: [], skip: [], stop: [], forget: [] });
  });

  it('stops live tasks whose desired state is shutdown, and forgets unassigned ones', () => {
    const assigned = byId([assignment('a', 'shutdown'), assignment('b', 'shutdown')]) as Map<string, Assignment>;
    const locals = byId([local('a', 'running'), local('b', 'complete'), local('c', 'running')]) as Map<string, LocalTask>;
    expect(planWorker(assigned, locals)).toEqual({ start: [], skip: [], stop: ['a'], forget: ['c'] });
  });

  it('does not start a task that is assigned only to be shut down, but records it as skipped', () => {
    const plan = planWorker(byId([assignment('a', 'shutdown')]) as Map<string, Assignment>, new Map());
    expect(plan.start).toEqual([]);
    expect(plan.skip.map((a) => a.taskId)).toEqual(['a']);
  });

  it('skips only unknown tasks: a known one shut down is stopped, or left alone once finished', () => {
    const assigned = byId([assignment('a', 'shutdown'), assignment('b', 'shutdown')]) as Map<string, Assignment>;
    const locals = byId([local('a', 'preparing'), local('b', 'shutdown')]) as Map<string, LocalTask>;
    expect(planWorker(assigned, locals)).toEqual({ start: [], skip: [], stop: ['a'], forget: [] });
  });

  it('leaves a task being forgotten alone: never started, skipped, stopped or forgotten again', () => {
    const leaving = (id: string, state: TaskState): LocalTask => ({ ...local(id, state), forgotten: true });
    const assigned = byId([assignment('a'), assignment('b', 'shutdown')]) as Map<string, Assignment>;
    const locals = byId([leaving('a', 'running'), leaving('b', 'running'), leaving('c', 'preparing')]) as Map<string, LocalTask>;
    expect(planWorker(assigned, locals)).toEqual({ start: [], skip: [], stop: [], forget: [] });
  });
});

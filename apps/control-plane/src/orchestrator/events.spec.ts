import { describe, expect, it } from 'vitest';
import type { NodeInfo, Rollout } from '@berth/core';
import { service, settled, T0, task } from './__fixtures__/plan-input';
import { rollingBackEvent, rolloutEvents, successorOf } from './events';

const at = new Date(T0).toISOString();
const updating: Rollout = { revision: 2, state: 'updating', previousRevision: 1, total: 3, updated: 0, failed: 0, startedAt: at, updatedAt: at };
const reasons = (prev: Rollout | undefined, next: Rollout | undefined) => rolloutEvents('web', prev, next).map((e) => `${e.reason}: ${e.message}`);

describe('rollout events', () => {
  it('tells a rollout from its start, step by step, to its end', () => {
    expect(reasons(settled, updating)).toEqual(['Started: rollout of revision 2 started from revision 1: 3 slot(s) to update']);
    const one = { ...updating, updated: 1 };
    expect(reasons(updating, one)).toEqual(['Progressed: revision 2: 1/3 updated']);
    expect(reasons(one, one)).toEqual([]);
    expect(reasons(one, { ...one, updated: 3, state: 'completed' })).toEqual(['Completed: revision 2 rolled out: 3/3 updated']);
  });

  it('says why it paused, that it goes on after a resume, and how a rollback ended', () => {
    const paused = { ...updating, state: 'paused' as const, failed: 1, reason: 'web.1.x failed (exited with code 1) within monitor' };
    expect(reasons(updating, paused)).toEqual(['Paused: rollout of revision 2 paused: web.1.x failed (exited with code 1) within monitor']);
    expect(reasons(paused, { ...paused, state: 'updating' })).toEqual(['Resumed: rollout of revision 2 goes on']);
    const back: Rollout = { ...updating, revision: 3, state: 'rolling-back', rollbackOf: 2, rollbackReason: 'web.1.x failed' };
    expect(reasons(updating, back)).toEqual([]); // the rollback's own transaction says it (rollingBackEvent)
    expect(reasons(back, { ...back, state: 'rolled-back', updated: 3 })).toEqual(['RolledBack: rolled back to revision 3 after: web.1.x failed']);
    expect(rollingBackEvent('web', paused, 1).message).toBe('rolling back revision 2 to revision 1: web.1.x failed (exited with code 1) within monitor');
  });

  it('does not announce the first revision of a new service, nor a deleted one', () => {
    const first: Rollout = { revision: 1, state: 'completed', total: 0, updated: 0, failed: 0, startedAt: at, updatedAt: at };
    expect(reasons(undefined, first)).toEqual([]);
    expect(reasons(settled, undefined)).toEqual([]);
  });
});

describe('which task a new one takes the place of', () => {
  const node = (name: string, over: Partial<NodeInfo> = {}): NodeInfo => ({
    name,
    labels: {},
    availability: 'active',
    state: 'ready',
    address: '10.0.0.1',
    capacity: { cpuMillis: 1000, memoryBytes: 1 << 30 },
    drivers: ['runc'],
    resourceVersion: '1',
    ...over,
  });
  const nodes = new Map([
    ['n1', node('n1', { state: 'down' })],
    ['n2', node('n2', { availability: 'drain' })],
  ]);
  const web = service();

  it('names the task of a down or draining node it replaces', () => {
    const lost = task(1, 'running', { nodeName: 'n1' });
    const drained = task(2, 'running', { nodeName: 'n2' });
    expect(successorOf({ slot: 1, specGeneration: 1, replaces: lost.id }, { service: web, slotTasks: [lost], shutdown: new Set(), nodes })).toEqual({ taskId: lost.id, node: 'n1', why: 'its node n1 is down', cause: 'moved' });
    expect(successorOf({ slot: 2, specGeneration: 1, replaces: drained.id }, { service: web, slotTasks: [drained], shutdown: new Set(), nodes })?.why).toBe('its node n2 is draining');
  });

  it('names the failed task a restart follows, and the outdated one an update step stops', () => {
    const failed = task(1, 'failed', { nodeName: 'n3', status: { state: 'failed', message: 'exited with code 3', updatedAt: at } });
    expect(successorOf({ slot: 1, specGeneration: 1 }, { service: web, slotTasks: [failed], shutdown: new Set([failed.id]), nodes })).toMatchObject({ why: 'restart after it failed (exited with code 3)', cause: 'restart' });
    const v2 = service({ template: { ...web.spec.template, image: 'oci:/img:2' } }, 2);
    const old = task(1, 'running', { nodeName: 'n3', template: web.spec.template });
    expect(successorOf({ slot: 1, specGeneration: 2 }, { service: v2, slotTasks: [old], shutdown: new Set([old.id]), nodes })).toEqual({ taskId: old.id, node: 'n3', why: 'update to revision 2', cause: 'update' });
  });

  it('names nobody for a slot that is new', () => {
    expect(successorOf({ slot: 4, specGeneration: 1 }, { service: web, slotTasks: [], shutdown: new Set(), nodes })).toBeUndefined();
  });
});

describe('a first revision', () => {
  it('has no Started event, only its completion', () => {
    const first: Rollout = { revision: 1, state: 'updating', total: 2, updated: 0, failed: 0, startedAt: at, updatedAt: at };
    expect(reasons(undefined, first)).toEqual([]);
    expect(reasons(first, { ...first, state: 'completed', updated: 2 })).toEqual(['Completed: revision 1 rolled out: 2/2 updated']);
  });
});

import type { TaskView } from '@berth/api';
import { describe, expect, it } from 'vitest';
import { assessDrain } from './drain';

const task = (name: string, o: { node?: string; state?: TaskView['status']['state']; desired?: 'running' | 'shutdown'; replaces?: string; message?: string } = {}): TaskView => ({
  metadata: { name, service: name.split('.')[0]!, slot: Number(name.split('.')[1]), createdAt: '2026-01-01T00:00:00Z' },
  spec: { desiredState: o.desired ?? 'running', ...(o.node ? { node: o.node } : {}), ...(o.replaces ? { replaces: o.replaces } : {}) },
  status: { state: o.state ?? 'running', ...(o.node ? { node: o.node } : {}), ...(o.message ? { message: o.message } : {}) },
});

describe('assessDrain', () => {
  it('is empty only once every task of the node has ended, the ones being stopped included', () => {
    const stopping = [task('web.1.a', { node: 'n1', desired: 'shutdown' }), task('web.1.b', { node: 'n2', replaces: 'web.1.a' })];
    expect(assessDrain('n1', stopping)).toEqual({ kind: 'moving', line: 'node/n1: 1 task left (1 stopping)' });
    const stopped = [task('web.1.a', { node: 'n1', desired: 'shutdown', state: 'shutdown' }), task('web.1.b', { node: 'n2', replaces: 'web.1.a' })];
    expect(assessDrain('n1', stopped)).toEqual({ kind: 'empty' });
  });

  it('is moving while a replacement is under way, and names it', () => {
    const tasks = [task('web.1.a', { node: 'n1' }), task('web.1.b', { node: 'n2', state: 'starting', replaces: 'web.1.a' })];
    expect(assessDrain('n1', tasks)).toEqual({ kind: 'moving', line: 'node/n1: 1 task left (replacements: web.1.b starting)' });
  });

  it('is moving while a task waits its turn (no replacement yet), even if another is stuck', () => {
    const tasks = [
      task('web.1.a', { node: 'n1' }),
      task('web.1.b', { state: 'pending', replaces: 'web.1.a', message: '2 nodes: max 1 per node' }),
      task('web.2.a', { node: 'n1' }),
    ];
    expect(assessDrain('n1', tasks).kind).toBe('moving');
  });

  it('is stuck when every task left has a replacement no node fits, with the reasons', () => {
    const tasks = [task('one.1.a', { node: 'n1' }), task('one.1.b', { state: 'pending', replaces: 'one.1.a', message: '2 nodes: max 1 per node' })];
    expect(assessDrain('n1', tasks)).toEqual({ kind: 'stuck', reasons: ['one.1.a cannot move: 2 nodes: max 1 per node'] });
  });

  it('ignores tasks of other nodes and finished ones', () => {
    const tasks = [task('web.1.a', { node: 'n2' }), task('web.2.a', { node: 'n1', state: 'failed' })];
    expect(assessDrain('n1', tasks)).toEqual({ kind: 'empty' });
  });
});

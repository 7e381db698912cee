import { describe, expect, it } from 'vitest';
import { checkedTask, runningTask, stoppingTask } from './__fixtures__/views';
import { explainTask } from './why';

describe('explainTask', () => {
  it("prints a pending task's scheduler explanation", () => {
    const t = { ...runningTask, spec: { desiredState: 'running' as const }, status: { state: 'pending' as const, message: '3 nodes: insufficient memory (needs 64Mi); 1 node: drained' } };
    expect(explainTask(t)).toBe('web.1.x7k2p: pending: 3 nodes: insufficient memory (needs 64Mi); 1 node: drained');
    expect(explainTask({ ...t, status: { state: 'pending' } })).toBe('web.1.x7k2p: pending: waiting for the scheduler to place it');
    const global = { ...t, spec: { desiredState: 'running' as const, targetNode: 'n3' }, status: { state: 'pending' as const, message: '1 node: insufficient memory (needs 64Mi)' } };
    expect(explainTask(global)).toBe('web.1.x7k2p: pending for n3: 1 node: insufficient memory (needs 64Mi)');
  });

  it('otherwise prints state, node and message', () => {
    expect(explainTask(runningTask)).toBe('web.1.x7k2p: running on n1');
    expect(explainTask(stoppingTask)).toBe('web.2.q9m1z: running on n2 (being stopped)');
    expect(explainTask(checkedTask)).toBe('web.3.h4lth: running on n1 (health: starting)');
    const failed = { ...runningTask, status: { state: 'failed' as const, node: 'n1', exitCode: 1, message: 'exited with code 1' } };
    expect(explainTask(failed)).toBe('web.1.x7k2p: failed: exited with code 1');
  });
});

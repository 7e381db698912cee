import { describe, expect, it } from 'vitest';
import type { NodeInfo, Rollout, Task } from '@berth/core';
import { ControlPlaneMetrics } from './metrics';

const node = (name: string, over: Partial<NodeInfo> = {}): NodeInfo => ({
  name, labels: {}, availability: 'active', state: 'ready', address: '10.0.0.1', capacity: { cpuMillis: 1000, memoryBytes: 2 ** 30 }, drivers: ['runc'], resourceVersion: '1', ...over,
});
const task = (state: Task['status']['state']): Task => ({ id: `web.1.${state}`, service: 'web', slot: 1, specGeneration: 1, desiredState: 'running', status: { state, updatedAt: '' }, createdAt: '', resourceVersion: '1' });
const rollout = (state: Rollout['state']): Rollout => ({ revision: 2, state, total: 3, updated: 1, failed: 0, startedAt: '', updatedAt: '' });

describe('control-plane metrics', () => {
  it('says its version and the Node.js version it runs on', async () => {
    const text = await new ControlPlaneMetrics().text();
    expect(text).toMatch(new RegExp(`^berth_build_info\\{version="[^"]+",node_version="${process.versions.node}"\\} 1$`, 'm'));
  });

  it('counts the cluster from the leader cache at scrape time, and drops what is gone', async () => {
    const m = new ControlPlaneMetrics();
    let nodes = [node('n1', { agentVersion: '0.1.0' }), node('n2', { address: '10.0.0.2', state: 'down' })];
    let rollouts = new Map([['web', rollout('paused')]]);
    m.countClusterFrom(() => ({ tasks: [task('running'), task('failed')], nodes, rollouts }));
    let text = await m.text();
    expect(text).toMatch(/^berth_node_info\{node="n1",address="10.0.0.1",version="0.1.0"\} 1$/m);
    expect(text).toMatch(/^berth_node_info\{node="n2",address="10.0.0.2",version="unknown"\} 1$/m);
    expect(text).toMatch(/^berth_rollout_state\{service="web",state="paused"\} 1$/m);
    expect(text).toMatch(/^berth_rollout_state\{service="web",state="updating"\} 0$/m);
    expect(text).toMatch(/^berth_nodes\{status="down"\} 1$/m);
    expect(text).toMatch(/^berth_tasks\{state="failed"\} 1$/m);
    nodes = [node('n1')];
    rollouts = new Map();
    text = await m.text();
    expect(text).not.toMatch(/node="n2"/);
    expect(text).not.toMatch(/^berth_rollout_state\{/m);
  });

  it('counts restarts per service from 0, nodes declared down, and times failovers', async () => {
    const m = new ControlPlaneMetrics();
    m.setReplicas('web', 3, 3);
    expect(await m.text()).toMatch(/^berth_task_restarts_total\{service="web"\} 0$/m);
    m.countRestarts('web', 2);
    m.countRestarts('web', 0);
    m.countNodesDown(1);
    m.observeFailover(7.5);
    const text = await m.text();
    expect(text).toMatch(/^berth_task_restarts_total\{service="web"\} 2$/m);
    expect(text).toMatch(/^berth_node_down_total 1$/m);
    expect(text).toMatch(/^berth_failover_duration_seconds_bucket\{le="10"\} 1$/m);
    expect(text).toMatch(/^berth_failover_duration_seconds_bucket\{le="5"\} 0$/m);
    expect(text).toMatch(/^berth_failover_duration_seconds_sum 7.5$/m);
    m.forgetService('web');
    expect(await m.text()).not.toMatch(/^berth_task_restarts_total\{/m);
  });
});

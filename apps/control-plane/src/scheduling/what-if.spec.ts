import { describe, expect, it } from 'vitest';
import type { NodeInfo, Service, TaskState } from '@berth/core';
import type { TaskRecord } from '@berth/store';
import { nodeFixture, serviceFixture, specFixture } from '../testing/fixtures';
import { planWithout } from './what-if';

const GI = 1024 ** 3;
const NOW = Date.parse('2026-01-01T00:10:00Z');

let seq = 0;
function task(service: Service, slot: number, node: string | undefined, state: TaskState = 'running'): TaskRecord {
  return {
    id: `${service.meta.name}.${slot}.${String(++seq).padStart(10, '0')}`,
    service: service.meta.name,
    slot,
    specGeneration: 1,
    desiredState: 'running',
    ...(node ? { nodeName: node } : {}),
    status: { state, updatedAt: '2026-01-01T00:00:00.000Z', ...(node ? { node } : {}) },
    createdAt: '2026-01-01T00:00:00.000Z',
    resourceVersion: String(seq),
    template: service.spec.template,
  };
}

function withMemory(name: string, memoryBytes: number, mode: 'replicated' | 'global' = 'replicated'): Service {
  const spec = specFixture();
  return serviceFixture(name, { spec: { mode, template: { ...spec.template, resources: { memoryBytes } } } });
}

const node = (name: string, memoryBytes = 2 * GI): NodeInfo => ({ ...nodeFixture(name), capacity: { cpuMillis: 2000, memoryBytes } });

function whatIf(services: Service[], tasks: TaskRecord[], nodes: NodeInfo[], without: string[]) {
  const byName = new Map(services.map((s) => [s.meta.name, s]));
  return planWithout({ tasks, services: (n) => byName.get(n), nodes, without, now: NOW });
}

describe('planWithout', () => {
  it("places the lost node's tasks on the others by the scheduler's rules, and says everything fits", () => {
    const web = withMemory('web', GI / 4);
    const tasks = [task(web, 1, 'n1'), task(web, 2, 'n2'), task(web, 3, 'n1'), task(web, 4, 'n3')];
    const plan = whatIf([web], tasks, [node('n1'), node('n2'), node('n3')], ['n1']);
    expect(plan.fits).toBe(true);
    expect(plan.tasks.map((t) => [t.task, t.outcome, t.to])).toEqual([
      [tasks[0]!.id, 'moves', 'n2'],
      [tasks[2]!.id, 'moves', 'n3'],
    ]);
  });

  it('names a task that would not fit with the explanation the scheduler would record, and counts the others against capacity', () => {
    const web = withMemory('web', GI / 2);
    const db = withMemory('db', (7 * GI) / 4);
    // n2 and n3 have 2Gi each; web.2 and web.3 already hold 512Mi on each.
    const tasks = [task(db, 1, 'n1'), task(web, 1, 'n1'), task(web, 2, 'n2'), task(web, 3, 'n3')];
    const plan = whatIf([web, db], tasks, [node('n1', 4 * GI), node('n2'), node('n3')], ['n1']);
    expect(plan.fits).toBe(false);
    expect(plan.tasks).toEqual([
      { task: tasks[0]!.id, service: 'db', slot: 1, from: 'n1', outcome: 'unschedulable', reason: '2 nodes: insufficient memory (needs 1792Mi)' },
      { task: tasks[1]!.id, service: 'web', slot: 1, from: 'n1', outcome: 'moves', to: 'n2' },
    ]);
  });

  it("a global service's task stops with its node; finished tasks, tasks being stopped and other nodes' tasks are not listed", () => {
    const agent = withMemory('agent', 0, 'global');
    const web = withMemory('web', 0);
    const done = { ...task(web, 2, 'n1', 'failed'), desiredState: 'shutdown' as const };
    const stopping = { ...task(web, 3, 'n1'), desiredState: 'shutdown' as const };
    const tasks = [task(agent, 1, 'n1'), task(agent, 2, 'n2'), done, stopping, task(web, 1, 'n2')];
    const plan = whatIf([agent, web], tasks, [node('n1'), node('n2')], ['n1']);
    expect(plan).toEqual({
      without: ['n1'],
      fits: true,
      tasks: [{ task: tasks[0]!.id, service: 'agent', slot: 1, from: 'n1', outcome: 'stops', reason: 'a global task runs on n1 only' }],
    });
  });

  it('losing every node leaves nothing to place on', () => {
    const web = withMemory('web', 0);
    const tasks = [task(web, 1, 'n1'), task(web, 2, 'n2')];
    const plan = whatIf([web], tasks, [node('n1'), node('n2')], ['n1', 'n2']);
    expect(plan.fits).toBe(false);
    expect(plan.tasks.map((t) => t.reason)).toEqual(['no nodes in the cluster', 'no nodes in the cluster']);
  });
});

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isTerminal, type Rollout, type Service, type Task, type TaskState } from '@berth/core';
import { planService, type ServicePlan } from './plan';

const svc = (replicas: number, generation: number): Service => ({
  meta: { name: 'web', labels: {}, resourceVersion: '1', generation, revision: generation, createdAt: '', updatedAt: '' },
  spec: {
    mode: 'replicated',
    replicas,
    template: { runtime: 'container', image: 'oci:/img:1', env: {}, resources: {}, ports: [], volumes: [], stopGracePeriodMs: 0 },
    restartPolicy: { condition: 'any', delayMs: 0, maxDelayMs: 0, maxAttempts: 0 },
    // Failures do not stop this rollout: here the restart policy alone must converge.
    update: { parallelism: 1, delayMs: 0, monitorMs: 0, maxFailureRatio: 0, failureAction: 'continue', order: 'stop-first' },
    rollback: { parallelism: 1, delayMs: 0, monitorMs: 0, maxFailureRatio: 0, failureAction: 'pause', order: 'stop-first' },
    placement: { constraints: [], maxPerNode: 0, strategy: 'spread' },
  fencing: false,
  },
});

/** Applies a plan the way the orchestrator's store write does, with a fresh id per new task. */
function apply(tasks: Task[], plan: ServicePlan, ids: { n: number }): Task[] {
  const stop = new Set(plan.shutdown);
  const gone = new Set(plan.remove);
  const kept = tasks.filter((t) => !gone.has(t.id)).map((t) => (stop.has(t.id) ? { ...t, desiredState: 'shutdown' as const } : t));
  const created = plan.create.map((c): Task => ({
    id: `t${++ids.n}`, service: 'web', slot: c.slot, specGeneration: c.specGeneration, desiredState: 'running',
    status: { state: 'pending', updatedAt: '1970-01-01T00:00:00.000Z' }, createdAt: String(ids.n).padStart(8, '0'), resourceVersion: '1',
  }));
  return [...kept, ...created];
}

/** The agent side: every live task moves to some state; stopped ones end as shutdown. */
function agentStep(tasks: Task[], outcome: (t: Task) => TaskState): Task[] {
  return tasks.map((t) => {
    if (isTerminal(t.status.state)) return t;
    const state = t.desiredState === 'shutdown' ? 'shutdown' : outcome(t);
    return { ...t, status: { ...t.status, state } };
  });
}

describe('planService properties', () => {
  it('never has two live active tasks in one slot, and converges to the replica count', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ replicas: fc.integer({ min: 0, max: 6 }), bump: fc.boolean(), outcomes: fc.array(fc.constantFrom<TaskState>('running', 'running', 'failed', 'complete', 'starting'), { minLength: 1, maxLength: 5 }) }), { minLength: 1, maxLength: 8 }),
        (rounds) => {
          const ids = { n: 0 };
          let tasks: Task[] = [];
          let generation = 1;
          let replicas = 0;
          let rollout: Rollout | undefined;
          const step = (): void => {
            const plan = planService({ service: svc(replicas, generation), tasks, nodes: [], now: 0, ...(rollout ? { rollout } : {}) });
            rollout = plan.rollout ?? rollout;
            tasks = apply(tasks, plan, ids);
            assertOneLivePerSlot(tasks);
          };
          for (const round of rounds) {
            replicas = round.replicas;
            if (round.bump) generation++;
            let i = 0;
            for (let n = 0; n < 3; n++) {
              step();
              tasks = agentStep(tasks, () => round.outcomes[i++ % round.outcomes.length]!);
            }
          }
          // With every task now starting fine, the service converges to `replicas` running tasks of the newest generation.
          for (let n = 0; n < 3 * (replicas + 2); n++) {
            step();
            tasks = agentStep(tasks, () => 'running');
          }
          const running = tasks.filter((t) => t.desiredState === 'running' && t.status.state === 'running');
          expect(running.length).toBe(replicas);
          expect(running.every((t) => t.specGeneration === generation)).toBe(true);
        },
      ),
    );
  });
});

function assertOneLivePerSlot(tasks: readonly Task[]): void {
  const live = tasks.filter((t) => t.desiredState === 'running' && !isTerminal(t.status.state));
  const slots = live.map((t) => t.slot);
  expect(new Set(slots).size).toBe(slots.length);
}

import type { NodeInfo, Rollout, Service, ServiceSpec, TaskState } from '@berth/core';
import type { PlannedTask } from '../plan';

/** The planners' clock in tests: every task is created just after it. */
export const T0 = Date.parse('2026-01-01T00:00:00Z');

export const spec = (over: Partial<ServiceSpec> = {}): ServiceSpec => ({
  mode: 'replicated',
  replicas: 3,
  template: { runtime: 'container', image: 'oci:/img:1', env: {}, resources: {}, ports: [], volumes: [], stopGracePeriodMs: 10_000 },
  restartPolicy: { condition: 'any', delayMs: 1000, maxDelayMs: 30_000, maxAttempts: 0 },
  update: { parallelism: 1, delayMs: 0, monitorMs: 5000, maxFailureRatio: 0, failureAction: 'pause', order: 'stop-first' },
  rollback: { parallelism: 1, delayMs: 0, monitorMs: 5000, maxFailureRatio: 0, failureAction: 'pause', order: 'stop-first' },
  placement: { constraints: [], maxPerNode: 0, strategy: 'spread' },
  fencing: false,
  ...over,
});

export const service = (over: Partial<ServiceSpec> = {}, generation = 1): Service => ({
  meta: { name: 'web', labels: {}, resourceVersion: '1', generation, revision: generation, createdAt: '', updatedAt: '' },
  spec: spec(over),
});

/** The rollout record of a service whose revision 1 rolled out long ago. */
export const settled: Rollout = {
  revision: 1,
  state: 'completed',
  total: 3,
  updated: 3,
  failed: 0,
  startedAt: new Date(T0 - 60_000).toISOString(),
  updatedAt: new Date(T0 - 60_000).toISOString(),
  completedAt: new Date(T0 - 60_000).toISOString(),
};

let seq = 0;
/** A task of `web` in `slot`, each one created a millisecond after the one before. */
export function task(slot: number, state: TaskState, over: Partial<PlannedTask> = {}): PlannedTask {
  seq++;
  const node = over.nodeName ? { node: over.nodeName } : {};
  return {
    id: `web.${slot}.${String(seq).padStart(4, '0')}`,
    service: 'web',
    slot,
    specGeneration: 1,
    desiredState: 'running',
    status: { state, ...node, updatedAt: new Date(T0).toISOString() },
    createdAt: new Date(T0 + seq).toISOString(),
    resourceVersion: String(seq),
    ...over,
  };
}

export const node = (name: string, over: Partial<NodeInfo> = {}): NodeInfo => ({
  name,
  labels: {},
  availability: 'active',
  state: 'ready',
  address: '127.0.0.1',
  capacity: { cpuMillis: 2000, memoryBytes: 2 ** 30 },
  drivers: ['runc'],
  resourceVersion: '1',
  ...over,
});

/** The planners' clock as the store writes it. */
export const iso = (ms: number): string => new Date(ms).toISOString();

/** A task of `web` in `slot` on node `a`, running since `since`, created from `template`. */
export function runningSince(slot: number, since: number, template: PlannedTask['template'], over: Partial<PlannedTask> = {}): PlannedTask {
  const t = task(slot, 'running', { nodeName: 'a', ...over });
  return { ...t, status: { state: 'running', node: 'a', startedAt: iso(since), updatedAt: iso(since) }, ...(template ? { template } : {}) };
}

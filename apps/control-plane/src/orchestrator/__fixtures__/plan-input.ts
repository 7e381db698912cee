import type { NodeInfo, Service, ServiceSpec, TaskState } from '@berth/core';
import type { PlannedTask } from '../plan';

/** The planners' clock in tests: every task is created just after it. */
export const T0 = Date.parse('2026-01-01T00:00:00Z');

export const spec = (over: Partial<ServiceSpec> = {}): ServiceSpec => ({
  mode: 'replicated',
  replicas: 3,
  template: { runtime: 'container', image: 'oci:/img:1', env: {}, resources: {}, ports: [], volumes: [], stopGracePeriodMs: 10_000 },
  restartPolicy: { condition: 'any', delayMs: 1000, maxDelayMs: 30_000, maxAttempts: 0 },
  update: { parallelism: 1, delayMs: 0, monitorMs: 5000, failureAction: 'pause', order: 'stop-first' },
  placement: { constraints: [], maxPerNode: 0, strategy: 'spread' },
  fencing: false,
  ...over,
});

export const service = (over: Partial<ServiceSpec> = {}, generation = 1): Service => ({
  meta: { name: 'web', labels: {}, resourceVersion: '1', generation, createdAt: '', updatedAt: '' },
  spec: spec(over),
});

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

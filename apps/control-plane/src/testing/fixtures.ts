import type { NodeInfo, Service, ServiceSpec, Task, TaskState } from '@berth/core';

/** A complete replicated service spec with the defaults the manifest layer fills in. */
export function specFixture(overrides: Partial<ServiceSpec> = {}): ServiceSpec {
  return {
    mode: 'replicated',
    replicas: 3,
    template: {
      runtime: 'container',
      image: '127.0.0.1:5000/busybox:1',
      env: {},
      resources: {},
      ports: [],
      volumes: [],
      stopGracePeriodMs: 10_000,
    },
    restartPolicy: { condition: 'any', delayMs: 1000, maxDelayMs: 30_000, maxAttempts: 0 },
    update: { parallelism: 1, delayMs: 0, monitorMs: 5000, maxFailureRatio: 0, failureAction: 'rollback', order: 'stop-first' },
    rollback: { parallelism: 1, delayMs: 0, monitorMs: 5000, maxFailureRatio: 0, failureAction: 'pause', order: 'stop-first' },
    placement: { constraints: [], maxPerNode: 0, strategy: 'spread' },
  fencing: false,
    ...overrides,
  };
}

export function serviceFixture(name: string, opts: { generation?: number; spec?: Partial<ServiceSpec> } = {}): Service {
  return {
    meta: {
      name,
      labels: {},
      resourceVersion: '1',
      generation: opts.generation ?? 1,
      revision: opts.generation ?? 1,
      createdAt: '2026-01-01T00:00:00.000Z',
      updatedAt: '2026-01-01T00:00:00.000Z',
    },
    spec: specFixture(opts.spec),
  };
}

export function taskFixture(
  service: string,
  slot: number,
  opts: { state?: TaskState; desired?: 'running' | 'shutdown'; generation?: number } = {},
): Task {
  return {
    id: `${service}.${slot}.${(slot * 7919).toString(36)}`,
    service,
    slot,
    specGeneration: opts.generation ?? 1,
    desiredState: opts.desired ?? 'running',
    status: { state: opts.state ?? 'running', updatedAt: '2026-01-01T00:00:00.000Z' },
    createdAt: '2026-01-01T00:00:00.000Z',
    resourceVersion: '1',
  };
}

export function nodeFixture(name: string, opts: Partial<Pick<NodeInfo, 'state' | 'availability' | 'downSince'>> = {}): NodeInfo {
  return {
    ...(opts.downSince ? { downSince: opts.downSince } : {}),
    name,
    labels: {},
    availability: opts.availability ?? 'active',
    state: opts.state ?? 'ready',
    address: '127.0.0.1',
    capacity: { cpuMillis: 2000, memoryBytes: 2 * 1024 ** 3 },
    drivers: ['runc'],
    resourceVersion: '1',
  };
}

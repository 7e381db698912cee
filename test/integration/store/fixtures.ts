import type { ServiceDraft, ServiceSpec } from '@berth/core';

export function spec(overrides: Partial<ServiceSpec> = {}): ServiceSpec {
  return {
    mode: 'replicated',
    replicas: 1,
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

export function draft(name: string, opts: { replicas?: number; labels?: Record<string, string>; resourceVersion?: string } = {}): ServiceDraft {
  return {
    name,
    labels: opts.labels ?? {},
    spec: spec({ replicas: opts.replicas ?? 1 }),
    ...(opts.resourceVersion !== undefined ? { resourceVersion: opts.resourceVersion } : {}),
  };
}

import type { ServiceDraft, ServiceSpec } from '@berth/core';

export function spec(replicas = 1): ServiceSpec {
  return {
    mode: 'replicated',
    replicas,
    template: { runtime: 'container', image: 'busybox:1', env: { A: '1', B: '2' }, resources: {}, ports: [], volumes: [], stopGracePeriodMs: 10_000 },
    restartPolicy: { condition: 'any', delayMs: 1000, maxDelayMs: 30_000, maxAttempts: 0 },
    update: { parallelism: 1, delayMs: 0, monitorMs: 5000, maxFailureRatio: 0, failureAction: 'rollback', order: 'stop-first' },
    rollback: { parallelism: 1, delayMs: 0, monitorMs: 5000, maxFailureRatio: 0, failureAction: 'pause', order: 'stop-first' },
    placement: { constraints: [], maxPerNode: 0, strategy: 'spread' },
    fencing: false,
  };
}

export function draft(name: string, replicas = 1, extra: Partial<ServiceDraft> = {}): ServiceDraft {
  return { name, labels: {}, spec: spec(replicas), ...extra };
}

import type { NodeView, ServiceView, TaskView } from '@berth/api';

/** Views as the API returns them, for the printers' tests. */
export const NOW = new Date('2026-03-01T12:00:00Z');

export const webService: ServiceView = {
  metadata: {
    name: 'web',
    resourceVersion: '42',
    generation: 2,
    revision: 2,
    labels: { tier: 'frontend', app: 'web' },
    createdAt: '2026-03-01T11:55:00Z',
    updatedAt: '2026-03-01T11:59:00Z',
  },
  spec: {
    mode: 'replicated',
    replicas: 3,
    template: {
      runtime: 'container',
      image: '127.0.0.1:5000/busybox:1',
      command: ['httpd', '-f', '-p', '8080'],
      env: { GREETING: 'hello world' },
      resources: { cpu: '250m', memory: '32Mi' },
      ports: [{ containerPort: 8080, hostPort: 18080, protocol: 'tcp' }, { containerPort: 53, protocol: 'udp' }],
      volumes: [{ name: 'data', mountPath: '/data' }],
      stopGracePeriod: '10s',
    },
    restartPolicy: { condition: 'any', delay: '1s', maxDelay: '30s', maxAttempts: 0 },
    update: { parallelism: 1, delay: '0s', monitor: '5s', maxFailureRatio: 0, failureAction: 'pause', order: 'stop-first' },
    rollback: { parallelism: 0, delay: '0s', monitor: '5s', maxFailureRatio: 0.5, failureAction: 'pause', order: 'stop-first' },
    placement: { constraints: ['node.labels.zone == a'], maxPerNode: 0, strategy: 'spread' },
    fencing: false,
  },
  status: {
    desired: 3,
    running: 1,
    updated: 1,
    rollout: {
      revision: 2,
      state: 'paused',
      previousRevision: 1,
      total: 3,
      updated: 1,
      failed: 1,
      reason: 'web.2.k3x failed (exited with code 3) within monitor',
      startedAt: '2026-03-01T11:59:00Z',
      updatedAt: '2026-03-01T11:59:30Z',
    },
  },
};

export const runningTask: TaskView = {
  metadata: { name: 'web.1.x7k2p', service: 'web', slot: 1, createdAt: '2026-03-01T11:58:00Z' },
  spec: { desiredState: 'running', node: 'n1' },
  status: { state: 'running', node: 'n1', pid: 4242, ip: '10.88.0.5', startedAt: '2026-03-01T11:58:10Z' },
};

/** A task with a health check whose first check has not passed yet. */
export const checkedTask: TaskView = {
  metadata: { name: 'web.3.h4lth', service: 'web', slot: 3, createdAt: '2026-03-01T11:59:00Z' },
  spec: { desiredState: 'running', node: 'n1' },
  status: { state: 'running', node: 'n1', pid: 4343, ip: '10.88.0.6', startedAt: '2026-03-01T11:59:05Z', health: 'starting' },
};

export const stoppingTask: TaskView = {
  metadata: { name: 'web.2.q9m1z', service: 'web', slot: 2, createdAt: '2026-03-01T11:50:00Z' },
  spec: { desiredState: 'shutdown', node: 'n2' },
  status: { state: 'running', node: 'n2' },
};

export const node1: NodeView = {
  metadata: { name: 'n1', labels: { zone: 'a', disk: 'ssd' } },
  spec: { availability: 'active' },
  status: {
    state: 'ready',
    address: '10.0.0.1',
    capacity: { cpu: '4', memory: '8Gi' },
    drivers: ['runc', 'qemu'],
    driverDetails: { qemu: 'tcg' },
    allocated: { cpu: '1500m', memory: '2Gi' },
    tasks: 3,
  },
};

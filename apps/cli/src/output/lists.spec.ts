import { describe, expect, it } from 'vitest';
import { nodeLayout, renderList, serviceLayout, taskLayout } from './lists';
import { NOW, checkedTask, node1, runningTask, stoppingTask, webService } from './__fixtures__/views';

const rows = (text: string) => text.split('\n').map((line) => line.split(/\s{2,}/));

describe('service tables', () => {
  it('shows running/desired replicas, image and age', () => {
    expect(rows(renderList(serviceLayout, [webService], { wide: false, now: NOW }))).toEqual([
      ['NAME', 'MODE', 'REPLICAS', 'IMAGE', 'AGE'],
      ['web', 'replicated', '1/3', '127.0.0.1:5000/busybox:1', '5m'],
    ]);
  });

  it('-o wide adds generation, resource version, ports and runtime', () => {
    expect(rows(renderList(serviceLayout, [webService], { wide: true, now: NOW }))).toEqual([
      ['NAME', 'MODE', 'REPLICAS', 'IMAGE', 'AGE', 'GENERATION', 'RESOURCE-VERSION', 'PORTS', 'RUNTIME'],
      ['web', 'replicated', '1/3', '127.0.0.1:5000/busybox:1', '5m', '2', '42', '18080:8080/tcp,53/udp', 'container'],
    ]);
  });
});

describe('task tables', () => {
  it('shows where a task is heading when it is being stopped', () => {
    expect(rows(renderList(taskLayout, [runningTask, stoppingTask], { wide: false, now: NOW }))).toEqual([
      ['NAME', 'SERVICE', 'SLOT', 'STATE', 'NODE', 'AGE'],
      ['web.1.x7k2p', 'web', '1', 'running', 'n1', '2m'],
      ['web.2.q9m1z', 'web', '2', 'running → shutdown', 'n2', '10m'],
    ]);
  });

  it('-o wide adds health, pid, ip, exit code and message, with - where unknown or without a health check', () => {
    expect(rows(renderList(taskLayout, [runningTask, stoppingTask, checkedTask], { wide: true, now: NOW }))).toEqual([
      ['NAME', 'SERVICE', 'SLOT', 'STATE', 'NODE', 'AGE', 'HEALTH', 'PID', 'IP', 'EXIT', 'MESSAGE'],
      ['web.1.x7k2p', 'web', '1', 'running', 'n1', '2m', '-', '4242', '10.88.0.5', '-', '-'],
      ['web.2.q9m1z', 'web', '2', 'running → shutdown', 'n2', '10m', '-', '-', '-', '-', '-'],
      ['web.3.h4lth', 'web', '3', 'running', 'n1', '60s', 'starting', '4343', '10.88.0.6', '-', '-'],
    ]);
  });

  it('-o wide shows why a task failed its health check', () => {
    const message = 'health check failed 3 times in a row: timed out after 2s';
    const failed = { ...checkedTask, status: { ...checkedTask.status, state: 'failed' as const, health: 'unhealthy' as const, exitCode: 137, message } };
    expect(rows(renderList(taskLayout, [failed], { wide: true, now: NOW }))[1]).toEqual(['web.3.h4lth', 'web', '3', 'failed', 'n1', '60s', 'unhealthy', '4343', '10.88.0.6', '137', message]);
  });

  it("shows the node a global service's unplaced task waits for in parentheses", () => {
    const waiting = { ...runningTask, spec: { desiredState: 'running' as const, targetNode: 'n3' }, status: { state: 'pending' as const } };
    expect(rows(renderList(taskLayout, [waiting], { wide: false, now: NOW }))[1]).toEqual(['web.1.x7k2p', 'web', '1', 'pending', '(n3)', '2m']);
  });
});

describe('node tables', () => {
  it('shows state, availability, address and capacity; wide adds tasks, allocation, drivers and sorted labels', () => {
    expect(rows(renderList(nodeLayout, [node1], { wide: true, now: NOW }))).toEqual([
      ['NAME', 'STATE', 'AVAILABILITY', 'ADDRESS', 'CPU', 'MEMORY', 'TASKS', 'ALLOC-CPU', 'ALLOC-MEMORY', 'DRIVERS', 'LABELS'],
      ['n1', 'ready', 'active', '10.0.0.1', '4', '8Gi', '3', '1500m', '2Gi', 'runc, qemu (tcg)', 'disk=ssd,zone=a'],
    ]);
  });

  it('says how long a down node has been down', () => {
    const down = { ...node1, status: { ...node1.status, state: 'down' as const, downSince: new Date(NOW.getTime() - 12_000).toISOString() } };
    expect(rows(renderList(nodeLayout, [down], { wide: false, now: NOW }))[1]?.slice(0, 2)).toEqual(['n1', 'down (12s)']);
  });
});

import type { ClusterEvent } from '@berth/core';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { berth, json, StandIn } from '../__fixtures__/stand-in';
import { node1, runningTask, webService } from '../output/__fixtures__/views';

const ago = (ms: number) => new Date(Date.now() - ms).toISOString();

const events: ClusterEvent[] = [
  { id: '40.0', time: ago(5 * 60_000), kind: 'service', object: 'web', service: 'web', reason: 'Updated', message: 'applied generation 2: revision 2' },
  { id: '41.0', time: ago(3 * 3_600_000), kind: 'task', object: 'web.2.k3x7p', service: 'web', node: 'n1', reason: 'Failed', message: 'failed: exited with code 3' },
];

const api = new StandIn();
beforeAll(() => api.start());
afterAll(() => api.stop());
beforeEach(() => api.reset());

/** The lines after `Events:`, split into cells. */
function eventsSection(out: string): string[][] {
  return out
    .slice(out.indexOf('\nEvents:') + 1)
    .split('\n')
    .map((l) => l.trim().split(/\s{2,}/));
}

describe('berth describe', () => {
  it('ends a service with its recent events', async () => {
    api
      .on('GET /api/v1/services/web', json(200, webService))
      .on('GET /api/v1/tasks?service=web', json(200, [runningTask]))
      .on('GET /api/v1/events?service=web', json(200, { items: events }));
    const r = await berth(api.url, ['describe', 'service', 'web']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^Name:\s+web$/m);
    expect(eventsSection(r.out)).toEqual([
      ['Events:'],
      ['AGE', 'REASON', 'OBJECT', 'MESSAGE'],
      ['5m', 'Updated', 'service/web', 'applied generation 2: revision 2'],
      ['3h', 'Failed', 'task/web.2.k3x7p', 'failed: exited with code 3'],
    ]);
  });

  it("ends a node with its events, or <none>", async () => {
    api
      .on('GET /api/v1/nodes/n1', json(200, node1))
      .on('GET /api/v1/tasks', json(200, [runningTask]))
      .on('GET /api/v1/events?node=n1', json(200, { items: [] }));
    const r = await berth(api.url, ['describe', 'node', 'n1']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^ +web\.1\.x7k2p\s+1\s+running/m);
    expect(r.out.split('\n').at(-1)).toBe('Events:  <none>');
  });

  it('still describes when the events cannot be read, and says why', async () => {
    api
      .on('GET /api/v1/nodes/n1', json(200, node1))
      .on('GET /api/v1/tasks', json(200, []))
      .on('GET /api/v1/events?node=n1', json(404, { code: 'NOT_FOUND', detail: 'Cannot GET /api/v1/events?node=n1' }));
    const r = await berth(api.url, ['describe', 'node', 'n1']);
    expect(r.code).toBe(0);
    expect(r.out.split('\n').at(-1)).toBe('Events:  <unavailable: Cannot GET /api/v1/events?node=n1>');
  });
});

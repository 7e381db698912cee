import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { PlanView } from '@berth/api';
import { berth, json, StandIn } from '../__fixtures__/stand-in';

const api = new StandIn();
beforeAll(() => api.start());
afterAll(() => api.stop());
beforeEach(() => api.reset());

const fits: PlanView = {
  without: ['n1'],
  fits: true,
  tasks: [
    { task: 'web.3.k3abc', service: 'web', slot: 3, from: 'n1', outcome: 'moves', to: 'n2' },
    { task: 'agent.1.q', service: 'agent', slot: 1, from: 'n1', outcome: 'stops', reason: 'a global task runs on n1 only' },
  ],
};
const stuck: PlanView = {
  without: ['n1'],
  fits: false,
  tasks: [
    { task: 'db.1.x', service: 'db', slot: 1, from: 'n1', outcome: 'unschedulable', reason: '2 nodes: insufficient memory (needs 4Gi)' },
    { task: 'web.3.k3abc', service: 'web', slot: 3, from: 'n1', outcome: 'moves', to: 'n2' },
  ],
};

describe('berth plan --without', () => {
  it('lists where each task would go and exits 0 when everything fits', async () => {
    api.on('GET /api/v1/plan?without=n1', json(200, fits));
    const r = await berth(api.url, ['plan', '--without', 'n1']);
    expect(r.code).toBe(0);
    expect(r.out.split('\n')).toEqual([
      'TASK          SERVICE   FROM   WOULD',
      'web.3.k3abc   web       n1     move to n2',
      'agent.1.q     agent     n1     stop: a global task runs on n1 only',
      '',
      'without n1: everything fits (1 task would move; 1 task of global services would stop with n1)',
    ]);
  });

  it('names what would not fit and why, and exits 3; -o json prints the plan and exits 3 too', async () => {
    api.on('GET /api/v1/plan?without=n1', json(200, stuck));
    const r = await berth(api.url, ['plan', '--without', 'n1']);
    expect(r.code).toBe(3);
    expect(r.out).toContain('db.1.x        db        n1     not fit: 2 nodes: insufficient memory (needs 4Gi)');
    expect(r.out.split('\n').at(-1)).toBe('without n1: 1 task would not fit (db); 1 task would move');
    const j = await berth(api.url, ['plan', '--without', 'n1', '-o', 'json']);
    expect(j.code).toBe(3);
    expect(JSON.parse(j.out)).toEqual(stuck);
  });

  it('asks for several nodes at once; an unknown node is exit 1, a missing --without exit 2', async () => {
    api.on('GET /api/v1/plan?without=n1,n2', json(200, { without: ['n1', 'n2'], fits: true, tasks: [] }));
    expect(await berth(api.url, ['plan', '--without', 'n1,n2'])).toMatchObject({ code: 0, out: 'without n1, n2: no live task runs there; nothing would move' });
    api.on('GET /api/v1/plan?without=n9', json(404, { code: 'NOT_FOUND', detail: 'node "n9" not found (berth get nodes lists them)' }));
    expect(await berth(api.url, ['plan', '--without', 'n9'])).toMatchObject({ code: 1, err: 'error: node "n9" not found (berth get nodes lists them)' });
    expect((await berth(api.url, ['plan'])).code).toBe(2);
  });
});

import type { RolloutView, ServiceView, TaskView } from '@berth/api';
import type { TaskState } from '@berth/core';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { berth, json, sequence, StandIn } from '../__fixtures__/stand-in';
import { webService } from '../output/__fixtures__/views';

const WEB = 'apiVersion: berth/v1\nkind: Service\nmetadata: { name: web }\nspec:\n  replicas: 3\n  template: { image: "busybox:1" }\n';
const NOT_FOUND = json(404, { code: 'NOT_FOUND', detail: 'service "web" not found' });

const svc = (running: number, updated = running, over: Partial<ServiceView['spec']> = {}): ServiceView => ({
  ...webService,
  spec: { ...webService.spec, ...over },
  status: { desired: over.replicas ?? 3, running, updated },
});

function tasks(...states: [string, TaskState, string?][]): TaskView[] {
  return states.map(([id, state, message]) => ({
    metadata: { name: id, service: 'web', slot: Number(id.split('.')[1]), createdAt: '2026-03-01T11:58:00Z' },
    spec: { desiredState: 'running', node: 'n1' },
    status: { state, ...(message ? { message } : {}) },
  }));
}

const api = new StandIn();
beforeAll(() => api.start());
afterAll(() => api.stop());
beforeEach(() => api.reset());

describe('berth apply --wait', () => {
  it('prints progress once per change and exits 0 when all tasks run', async () => {
    api
      .on('GET /api/v1/services/web', sequence(NOT_FOUND, json(200, svc(0)), json(200, svc(0)), json(200, svc(2)), json(200, svc(3))))
      .on('POST /api/v1/apply', json(200, { items: [{ name: 'web', action: 'created', service: svc(0) }] }))
      .on(
        'GET /api/v1/tasks?service=web',
        sequence(
          json(200, tasks(['web.1.a', 'pending'], ['web.2.b', 'pending'], ['web.3.c', 'pending'])),
          json(200, tasks(['web.1.a', 'pending'], ['web.2.b', 'pending'], ['web.3.c', 'pending'])),
          json(200, tasks(['web.1.a', 'running'], ['web.2.b', 'running'], ['web.3.c', 'starting'])),
          json(200, tasks(['web.1.a', 'running'], ['web.2.b', 'running'], ['web.3.c', 'running'])),
        ),
      );
    const r = await berth(api.url, ['apply', '-f', '-', '--wait'], { stdin: WEB });
    expect(r).toMatchObject({ code: 0, out: 'service/web created', err: '' });
    expect(r.raw).toBe('web: 0/3 running\nweb: 2/3 running\nweb: 3/3 running\n');
    expect(api.requests[0]).toBe('GET /api/v1/services/web'); // read before the write
    expect(api.count('GET /api/v1/services/web')).toBe(5);
  });

  it('redraws the progress line in place on a TTY', async () => {
    api
      .on('GET /api/v1/services/web', sequence(NOT_FOUND, json(200, svc(1)), json(200, svc(3))))
      .on('POST /api/v1/apply', json(200, { items: [{ name: 'web', action: 'created', service: svc(0) }] }))
      .on('GET /api/v1/tasks?service=web', sequence(json(200, []), json(200, tasks(['web.1.a', 'running'], ['web.2.b', 'running'], ['web.3.c', 'running']))));
    const r = await berth(api.url, ['apply', '-f', '-', '--wait'], { stdin: WEB, tty: true });
    expect(r.code).toBe(0);
    expect(r.raw).toBe('\x1b[2Kweb: 1/3 running\r\x1b[2Kweb: 3/3 running\n');
  });

  it('exits 1 with the message of a new task that failed, ignoring a failure from before the write', async () => {
    const before = tasks(['web.1.a', 'running'], ['web.2.old', 'failed', 'killed by the OOM killer']);
    api
      .on('GET /api/v1/services/web', json(200, svc(1)))
      .on('POST /api/v1/apply', json(200, { items: [{ name: 'web', action: 'unchanged', service: svc(1) }] }))
      .on(
        'GET /api/v1/tasks?service=web',
        sequence(
          json(200, before),
          json(200, before),
          json(200, [...before, ...tasks(['web.2.x8f3', 'failed', 'exec: "nope": executable file not found'])]),
        ),
      );
    const r = await berth(api.url, ['apply', '-f', '-', '--wait'], { stdin: WEB });
    expect(r.code).toBe(1);
    expect(r.raw).toBe('web: 1/3 running\n');
    expect(r.err).toBe('error: web.2.x8f3: failed: exec: "nope": executable file not found');
  });

  it('gives up after --timeout and says what is still missing', async () => {
    const pending = tasks(['web.1.a', 'running'], ['web.2.b', 'pending', '2 nodes: insufficient memory (needs 64Mi)']);
    api
      .on('GET /api/v1/services/web', json(200, svc(1, 1, { replicas: 2 })))
      .on('POST /api/v1/apply', json(200, { items: [{ name: 'web', action: 'configured', service: svc(1, 1, { replicas: 2 }) }] }))
      .on('GET /api/v1/tasks?service=web', json(200, pending));
    const r = await berth(api.url, ['apply', '-f', '-', '--wait', '--timeout', '1s'], { stdin: WEB });
    expect(r.code).toBe(1);
    expect(r.err).toBe(
      [
        'error: timed out after 1s waiting for the services to converge; still missing:',
        '  web: 1/2 running (1 more to run; web.2.b: pending: 2 nodes: insufficient memory (needs 64Mi))',
      ].join('\n'),
    );
  });

  it.each([
    [['--wait', '--dry-run'], /--wait cannot be combined with --dry-run/],
    [['--timeout', '1m'], /--timeout only applies with --wait/],
    [['--wait', '--timeout', 'soon'], /--timeout: "soon" is not a duration/],
  ])('%j is a usage error: exit 2, nothing sent', async (flags, message) => {
    const r = await berth(api.url, ['apply', '-f', '-', ...flags], { stdin: WEB });
    expect(r.code).toBe(2);
    expect(r.err).toMatch(message);
    expect(api.requests).toEqual([]);
  });
});

describe('berth apply --wait after a spec change', () => {
  it('keeps waiting while the not yet recomputed status still counts the old task', async () => {
    const old = svc(1, 1, { replicas: 1 });
    const changed = svc(1, 1, { replicas: 1, template: { ...webService.spec.template, image: 'busybox:2' } });
    api
      .on('GET /api/v1/services/web', sequence(json(200, old), json(200, changed)))
      .on('POST /api/v1/apply', json(200, { items: [{ name: 'web', action: 'configured', service: changed }] }))
      .on(
        'GET /api/v1/tasks?service=web',
        sequence(
          json(200, tasks(['web.1.a', 'running'])),
          json(200, tasks(['web.1.a', 'running'])),
          json(200, [...tasks(['web.1.n', 'starting']), { ...tasks(['web.1.a', 'running'])[0]!, spec: { desiredState: 'shutdown' } }]),
          json(200, tasks(['web.1.a', 'shutdown'], ['web.1.n', 'running'])),
        ),
      );
    const r = await berth(api.url, ['apply', '-f', '-', '--wait'], { stdin: WEB });
    expect(r).toMatchObject({ code: 0, out: 'service/web configured', err: '' });
    expect(r.raw).toBe('web: 1/1 running\n');
    expect(api.count('GET /api/v1/tasks?service=web')).toBe(4); // the snapshot and three polls
  });
});

describe('berth scale --wait', () => {
  it('waits until the new replica count runs', async () => {
    api
      .on(
        'GET /api/v1/services/web',
        // Right after the write the leader has not recomputed status: it still says 3 desired.
        sequence(json(200, svc(3)), json(200, { ...svc(3, 3, { replicas: 4 }), status: { desired: 3, running: 3, updated: 3 } }), json(200, svc(3, 3, { replicas: 4 })), json(200, svc(4, 4, { replicas: 4 }))),
      )
      .on('PUT /api/v1/services/web/scale', json(200, svc(3, 3, { replicas: 4 })))
      .on('GET /api/v1/tasks?service=web', json(200, tasks(['web.1.a', 'running'], ['web.2.b', 'running'], ['web.3.c', 'running'])));
    const r = await berth(api.url, ['scale', 'web=4', '--wait']);
    expect(r).toMatchObject({ code: 0, out: 'service/web scaled to 4', err: '' });
    expect(r.raw).toBe('web: 3/3 running\nweb: 3/4 running\nweb: 4/4 running\n');
    expect(api.bodies).toEqual([{ replicas: 4 }]);
  });

  it('fails on an unknown service without waiting', async () => {
    api.on('GET /api/v1/services/nope', json(404, { code: 'NOT_FOUND', detail: 'service "nope" not found' }));
    api.on('PUT /api/v1/services/nope/scale', json(404, { code: 'NOT_FOUND', detail: 'service "nope" not found' }));
    expect(await berth(api.url, ['scale', 'nope=2', '--wait'])).toMatchObject({ code: 1, err: 'error: service "nope" not found' });
  });
});

/** web at `revision` (3 replicas) with this rollout record; the image follows the revision. */
function rev(revision: number, rollout?: Partial<RolloutView> & Pick<RolloutView, 'revision' | 'state'>, running = 3): ServiceView {
  const record = rollout && { total: 3, updated: 0, failed: 0, startedAt: '2026-03-01T12:00:00Z', updatedAt: '2026-03-01T12:00:01Z', ...rollout };
  return {
    ...webService,
    metadata: { ...webService.metadata, revision },
    spec: { ...webService.spec, template: { ...webService.spec.template, image: `busybox:${revision}` } },
    status: { desired: 3, running, updated: running, ...(record ? { rollout: record } : {}) },
  };
}

const REASON = 'web.2.k3x failed (exited with code 3) within monitor';
const OLD = tasks(['web.1.a', 'running'], ['web.2.b', 'running'], ['web.3.c', 'running']);
const NEW = tasks(['web.1.n', 'running'], ['web.2.n', 'running'], ['web.3.n', 'running']);

describe('berth apply --wait follows the rollout of a changed service', () => {
  const configured = (service: ServiceView) => json(200, { items: [{ name: 'web', action: 'configured', service }] });

  it('shows its progress and exits 0 once the leader completed it and the old tasks are gone', async () => {
    api
      .on(
        'GET /api/v1/services/web',
        sequence(
          json(200, rev(2, { revision: 2, state: 'completed', updated: 3 })),
          json(200, rev(3, { revision: 2, state: 'completed', updated: 3 })),
          json(200, rev(3, { revision: 3, state: 'updating', previousRevision: 2, updated: 1 }, 2)),
          json(200, rev(3, { revision: 3, state: 'completed', previousRevision: 2, updated: 3 })),
        ),
      )
      .on('POST /api/v1/apply', configured(rev(3)))
      // A failed new task is the rollout's business (its failure action), not the wait's.
      .on('GET /api/v1/tasks?service=web', sequence(json(200, OLD), json(200, OLD), json(200, tasks(['web.1.n', 'failed', 'exited with code 3'], ['web.2.b', 'running'])), json(200, NEW)));
    const r = await berth(api.url, ['apply', '-f', '-', '--wait'], { stdin: WEB });
    expect(r).toMatchObject({ code: 0, out: 'service/web configured', err: '' });
    expect(r.raw).toBe(['web: waiting for the rollout of revision 3 to start', 'web: updating 1/3 (revision 3; 2/3 running)', 'web: updated 3/3 (revision 3)', ''].join('\n'));
  });

  it('exits 3 with the reason when the rollout paused', async () => {
    api
      .on('GET /api/v1/services/web', sequence(json(200, rev(2)), json(200, rev(3, { revision: 3, state: 'paused', previousRevision: 2, updated: 1, failed: 1, reason: REASON }))))
      .on('POST /api/v1/apply', configured(rev(3)))
      .on('GET /api/v1/tasks?service=web', json(200, OLD));
    const r = await berth(api.url, ['apply', '-f', '-', '--wait'], { stdin: WEB });
    expect(r.code).toBe(3);
    expect(r.raw).toBe(`web: paused at 1/3 (revision 3): ${REASON}\n`);
    expect(r.err).toBe(
      [
        `error: web: rollout paused: ${REASON}`,
        '  revision 3: 1/3 updated, 1 failed; "berth rollout resume web" continues it, "berth rollout undo web" goes back to revision 2',
      ].join('\n'),
    );
  });

  it('follows an automatic rollback to its end, then exits 3 saying so; -o json says it too', async () => {
    const failing = rev(3, { revision: 3, state: 'updating', previousRevision: 2, updated: 1, failed: 1 });
    api
      .on(
        'GET /api/v1/services/web',
        sequence(
          json(200, rev(2)),
          json(200, failing),
          json(200, rev(4, { revision: 4, state: 'rolling-back', previousRevision: 3, rollbackOf: 3, updated: 1, reason: REASON })),
          json(200, rev(4, { revision: 4, state: 'rolled-back', previousRevision: 3, rollbackOf: 3, updated: 3, reason: REASON })),
        ),
      )
      .on('POST /api/v1/apply', configured(rev(3)))
      .on('GET /api/v1/tasks?service=web', json(200, OLD));
    const r = await berth(api.url, ['apply', '-f', '-', '--wait', '-o', 'json'], { stdin: WEB });
    expect(r.code).toBe(3);
    expect(r.raw).toBe(
      ['web: updating 1/3 (revision 3; 1 failed)', `web: rolling back to revision 2 (1/3): ${REASON}`, `web: rolled back to revision 2: ${REASON}`, ''].join('\n'),
    );
    expect(r.err).toBe(`error: web: rolled back to revision 2: ${REASON}`);
    expect(JSON.parse(r.out)).toEqual({
      items: [{ name: 'web', action: 'configured', revision: 3, rollout: rev(4, { revision: 4, state: 'rolled-back', previousRevision: 3, rollbackOf: 3, updated: 3, reason: REASON }).status.rollout, result: 'rolled-back' }],
    });
  });

  it('-o json gives one document once every service converged', async () => {
    const done = rev(3, { revision: 3, state: 'completed', previousRevision: 2, updated: 3 });
    api
      .on('GET /api/v1/services/web', sequence(json(200, rev(2)), json(200, done)))
      .on('POST /api/v1/apply', configured(rev(3)))
      .on('GET /api/v1/tasks?service=web', sequence(json(200, OLD), json(200, NEW)));
    const r = await berth(api.url, ['apply', '-f', '-', '--wait', '-o', 'json'], { stdin: WEB });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out)).toEqual({ items: [{ name: 'web', action: 'configured', revision: 3, rollout: done.status.rollout, result: 'converged' }] });
  });

  it('exits 1 naming the revision that superseded it when someone else changed the service', async () => {
    api
      .on('GET /api/v1/services/web', sequence(json(200, rev(2)), json(200, rev(4, { revision: 4, state: 'updating', previousRevision: 3 }))))
      .on('POST /api/v1/apply', configured(rev(3)))
      .on('GET /api/v1/tasks?service=web', json(200, OLD));
    const r = await berth(api.url, ['apply', '-f', '-', '--wait'], { stdin: WEB });
    expect(r.code).toBe(1);
    expect(r.err).toBe('error: web: revision 3 did not roll out: the service is at revision 4 now (the service was changed again)');
  });

  it('on timeout says how far the rollout got and what is missing; exit 1', async () => {
    api
      .on('GET /api/v1/services/web', sequence(json(200, rev(2)), json(200, rev(3, { revision: 3, state: 'updating', previousRevision: 2, updated: 1 }, 2))))
      .on('POST /api/v1/apply', configured(rev(3)))
      .on('GET /api/v1/tasks?service=web', json(200, OLD.slice(0, 2)));
    const r = await berth(api.url, ['apply', '-f', '-', '--wait', '--timeout', '1s'], { stdin: WEB });
    expect(r.code).toBe(1);
    expect(r.err).toBe(
      [
        'error: timed out after 1s waiting for the services to converge; still missing:',
        '  web: updating 1/3 (revision 3; 2/3 running) (1 more to run; 2 old tasks still live)',
      ].join('\n'),
    );
  });
});

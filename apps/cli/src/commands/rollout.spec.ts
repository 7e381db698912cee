import type { RevisionView, RolloutView, ServiceView, TaskView } from '@berth/api';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { berth, json, sequence, StandIn } from '../__fixtures__/stand-in';
import { webService } from '../output/__fixtures__/views';

const api = new StandIn();
beforeAll(() => api.start());
afterAll(() => api.stop());
beforeEach(() => api.reset());

const REASON = 'web.2.k3x failed (exited with code 3) within monitor';

/** web at `revision` (2 replicas, `running` up) with this rollout record. */
function rev(revision: number, rollout?: Partial<RolloutView> & Pick<RolloutView, 'revision' | 'state'>, running = 2): ServiceView {
  const record = rollout && { total: 2, updated: 0, failed: 0, startedAt: '2026-03-01T12:00:00Z', updatedAt: '2026-03-01T12:00:01Z', ...rollout };
  return {
    ...webService,
    metadata: { ...webService.metadata, revision },
    spec: { ...webService.spec, replicas: 2 },
    status: { desired: 2, running, updated: running, ...(record ? { rollout: record } : {}) },
  };
}

const RUNNING: TaskView[] = ['web.1.a', 'web.2.b'].map((id, i) => ({
  metadata: { name: id, service: 'web', slot: i + 1, createdAt: '2026-03-01T11:58:00Z' },
  spec: { desiredState: 'running', node: 'n1' },
  status: { state: 'running', node: 'n1' },
}));

describe('berth rollout status', () => {
  it('follows the rollout of the current revision and exits 0 once it completed and every task runs', async () => {
    api
      .on(
        'GET /api/v1/services/web',
        sequence(
          json(200, rev(3, { revision: 3, state: 'updating', previousRevision: 2 }, 1)),
          json(200, rev(3, { revision: 3, state: 'updating', previousRevision: 2, updated: 1 }, 1)),
          json(200, rev(3, { revision: 3, state: 'completed', previousRevision: 2, updated: 2 })),
        ),
      )
      .on('GET /api/v1/tasks?service=web', json(200, RUNNING));
    const r = await berth(api.url, ['rollout', 'status', 'web']);
    expect(r).toMatchObject({ code: 0, out: 'service/web rolled out (revision 3)', err: '' });
    expect(r.raw).toBe('web: updating 1/2 (revision 3; 1/2 running)\nweb: updated 2/2 (revision 3)\n');
  });

  it('exits 3 with the reason when the rollout is paused; -o json prints the record all the same', async () => {
    const paused = rev(3, { revision: 3, state: 'paused', previousRevision: 2, updated: 1, failed: 1, reason: REASON });
    api.on('GET /api/v1/services/web', json(200, paused)).on('GET /api/v1/tasks?service=web', json(200, RUNNING));
    const r = await berth(api.url, ['rollout', 'status', 'web', '-o', 'json']);
    expect(r.code).toBe(3);
    expect(JSON.parse(r.out)).toEqual({ name: 'web', ...paused.status.rollout, result: 'paused' });
    expect(r.err.split('\n')[0]).toBe(`error: web: rollout paused: ${REASON}`);
    expect(r.raw).toBe(`web: paused at 1/2 (revision 3): ${REASON}\n`);
  });

  it('follows an automatic rollback, redrawn in place on a TTY, and exits 3 once it is rolled back', async () => {
    api
      .on(
        'GET /api/v1/services/web',
        sequence(
          json(200, rev(3, { revision: 3, state: 'updating', previousRevision: 2 })),
          json(200, rev(3, { revision: 3, state: 'updating', previousRevision: 2 })),
          json(200, rev(4, { revision: 4, state: 'rolling-back', previousRevision: 3, rollbackOf: 3, updated: 1, reason: REASON })),
          json(200, rev(4, { revision: 4, state: 'rolled-back', previousRevision: 3, rollbackOf: 3, updated: 2, reason: REASON })),
        ),
      )
      .on('GET /api/v1/tasks?service=web', json(200, RUNNING));
    const r = await berth(api.url, ['rollout', 'status', 'web'], { tty: true });
    expect(r).toMatchObject({ code: 3, out: '', err: `error: web: rolled back to revision 2: ${REASON}` });
    expect(r.raw).toBe(
      `\x1b[2Kweb: updating 0/2 (revision 3)\r\x1b[2Kweb: rolling back to revision 2 (1/2): ${REASON}\r\x1b[2Kweb: rolled back to revision 2: ${REASON}\n`,
    );
  });

  it('gives up after --timeout with exit 1 and changes nothing', async () => {
    api
      .on('GET /api/v1/services/web', json(200, rev(3, { revision: 3, state: 'updating', previousRevision: 2, updated: 1 })))
      .on('GET /api/v1/tasks?service=web', json(200, RUNNING));
    const r = await berth(api.url, ['rollout', 'status', 'web', '--timeout', '1s']);
    expect(r.code).toBe(1);
    expect(r.err).toBe('error: timed out after 1s waiting for the services to converge; still missing:\n  web: updating 1/2 (revision 3)');
    expect(api.requests.every((q) => q.startsWith('GET '))).toBe(true);
  });

  it('exits 1 for an unknown service', async () => {
    api.on('GET /api/v1/services/nope', json(404, { code: 'NOT_FOUND', detail: 'service "nope" not found' }));
    expect(await berth(api.url, ['rollout', 'status', 'nope'])).toMatchObject({ code: 1, err: 'error: service "nope" not found' });
  });
});

describe('berth rollout history', () => {
  const items: RevisionView[] = [
    { revision: 1, generation: 1, createdAt: '2020-01-01T00:00:00Z', cause: 'apply', image: 'busybox:1', current: false, spec: webService.spec },
    { revision: 2, generation: 3, createdAt: '2020-01-01T00:00:00Z', cause: 'restart', image: 'busybox:1', imageDigest: `sha256:${'a1'.repeat(32)}`, current: true, spec: webService.spec },
  ];

  it('prints a table marking the current revision, or the API items with -o json', async () => {
    api.on('GET /api/v1/services/web/revisions', json(200, { items }));
    const r = await berth(api.url, ['rollout', 'history', 'web']);
    expect(r.code).toBe(0);
    expect(r.out.split('\n').map((l) => l.trim().split(/\s{2,}/))).toEqual([
      ['CURRENT', 'REVISION', 'GENERATION', 'IMAGE', 'DIGEST', 'CREATED', 'CAUSE'],
      ['1', '1', 'busybox:1', '-', expect.stringMatching(/ago$/), 'apply'],
      ['*', '2', '3', 'busybox:1', 'sha256:a1a1a1a1a1a1', expect.stringMatching(/ago$/), 'restart'],
    ]);
    expect(JSON.parse((await berth(api.url, ['rollout', 'history', 'web', '-o', 'json'])).out)).toEqual(items);
  });

  it('says so when there is no history', async () => {
    api.on('GET /api/v1/services/web/revisions', json(200, { items: [] }));
    expect(await berth(api.url, ['rollout', 'history', 'web'])).toMatchObject({ code: 0, out: '', err: 'No revisions found.' });
  });
});

describe('berth rollout undo', () => {
  it('returns to the revision before the current rollout by default, and names it', async () => {
    api
      .on('GET /api/v1/services/web', json(200, rev(3, { revision: 3, state: 'paused', previousRevision: 2, reason: REASON })))
      .on('POST /api/v1/services/web/rollout/undo', json(200, rev(4)));
    expect(await berth(api.url, ['rollout', 'undo', 'web'])).toMatchObject({ code: 0, out: 'service/web rolled back to revision 2 (now revision 4)', err: '' });
    expect(api.bodies).toEqual([{}]);
  });

  it('--to-revision picks the revision; one not in the history is exit 1', async () => {
    api
      .on('GET /api/v1/services/web', json(200, rev(3)))
      .on('POST /api/v1/services/web/rollout/undo', sequence(json(200, rev(4)), json(404, { code: 'NOT_FOUND', detail: 'service "web" has no revision 9 in its history' })));
    expect((await berth(api.url, ['rollout', 'undo', 'web', '--to-revision', '1'])).out).toBe('service/web rolled back to revision 1 (now revision 4)');
    expect(api.bodies).toEqual([{ toRevision: 1 }]);
    expect(await berth(api.url, ['rollout', 'undo', 'web', '--to-revision', '9'])).toMatchObject({ code: 1, err: 'error: service "web" has no revision 9 in its history' });
  });

  it('--wait follows the rollout of the new revision', async () => {
    api
      .on('GET /api/v1/services/web', sequence(json(200, rev(3)), json(200, rev(4, { revision: 4, state: 'completed', previousRevision: 3, updated: 2 }))))
      .on('POST /api/v1/services/web/rollout/undo', json(200, rev(4)))
      .on('GET /api/v1/tasks?service=web', json(200, RUNNING));
    const r = await berth(api.url, ['rollout', 'undo', 'web', '--to-revision', '2', '--wait']);
    expect(r).toMatchObject({ code: 0, out: 'service/web rolled back to revision 2 (now revision 4)\nservice/web rolled out (revision 4)', err: '' });
    expect(r.raw).toBe('web: updated 2/2 (revision 4)\n');
  });
});

describe('berth rollout pause, resume and restart', () => {
  it.each([
    ['pause', 'service/web paused'],
    ['resume', 'service/web resumed'],
    ['restart', 'service/web restarted (revision 4)'],
  ])('%s posts to the rollout and says so', async (action, said) => {
    api.on(`POST /api/v1/services/web/rollout/${action}`, json(200, rev(4)));
    expect(await berth(api.url, ['rollout', action, 'web'])).toEqual({ code: 0, out: said, err: '', raw: '' });
    expect(api.requests).toEqual([`POST /api/v1/services/web/rollout/${action}`]);
    expect(api.bodies).toEqual([]);
  });

  it('restart --wait follows the new revision; a pause on the way is exit 3', async () => {
    api
      .on('POST /api/v1/services/web/rollout/restart', json(200, rev(4)))
      .on('GET /api/v1/services/web', json(200, rev(4, { revision: 4, state: 'paused', previousRevision: 3, reason: 'paused by the operator' })))
      .on('GET /api/v1/tasks?service=web', json(200, RUNNING));
    const r = await berth(api.url, ['rollout', 'restart', 'web', '--wait']);
    expect(r).toMatchObject({ code: 3, out: 'service/web restarted (revision 4)' });
    expect(r.err.split('\n')[0]).toBe('error: web: rollout paused: paused by the operator');
  });
});

describe('berth rollout usage', () => {
  it.each([
    [['rollout', 'undo', 'web', '--to-revision', 'two'], /--to-revision must be a revision number ≥ 1 \(got "two"\)/],
    [['rollout', 'undo', 'web', '--to-revision', '0'], /--to-revision must be a revision number ≥ 1/],
    [['rollout', 'undo', 'web', '--timeout', '1m'], /--timeout only applies with --wait/],
    [['rollout', 'restart', 'web', '--timeout', '1m'], /--timeout only applies with --wait/],
    [['rollout', 'status', 'Web_1'], /service name "Web_1" is not a DNS-1123 label/],
    [['rollout', 'status', 'web', '--timeout', '0s'], /--timeout must be longer than 0s/],
    [['rollout', 'status', 'web', '-o', 'yaml'], /Allowed choices are json/],
    [['rollout', 'status'], /missing required argument 'service'/],
    [['rollout', 'rewind', 'web'], /unknown command 'rewind'/],
  ])('%j is a usage error: exit 2, nothing sent', async (args, message) => {
    const r = await berth(api.url, args);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(message);
    expect(api.requests).toEqual([]);
  });

  it('documents the states, the exit codes and examples in --help', async () => {
    const help = await berth(api.url, ['rollout', '--help']);
    expect(help.code).toBe(0);
    expect(help.out).toMatch(/status \[options\] <service>/);
    expect(help.out).toMatch(/rolling-back {2}failures exceeded it with failureAction rollback/);
    expect(help.out).toMatch(/3 the rollout paused or was rolled back/);
    expect((await berth(api.url, ['rollout', 'undo', '--help'])).out).toMatch(/--to-revision <n>/);
  });
});

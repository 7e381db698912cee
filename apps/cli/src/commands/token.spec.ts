import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { berth, json, StandIn } from '../__fixtures__/stand-in';
import { formatExpiry, tokenLayout } from '../output/tokens';
import { renderList } from '../output/lists';

const api = new StandIn();
beforeAll(() => api.start());
afterAll(() => api.stop());
beforeEach(() => api.reset());

const HOUR = 3_600_000;
const ago = (ms: number) => new Date(Date.now() - ms).toISOString();
const ahead = (ms: number) => new Date(Date.now() + ms).toISOString();

const created = { id: 'tk7f3a', role: 'join', token: 'berth_join_s3cr3t', createdAt: '2026-03-01T12:00:00.000Z', expiresAt: '2026-03-02T12:00:00.000Z' };

describe('berth token create', () => {
  it('prints only the secret, so TOKEN=$(berth token create …) works, and sends role, ttl and description', async () => {
    api.on('POST /api/v1/tokens', json(201, created));
    expect(await berth(api.url, ['token', 'create', '--role', 'join', '--ttl', '24h', '--description', 'rack 3'])).toEqual({ code: 0, out: 'berth_join_s3cr3t', err: '', raw: '' });
    expect(api.bodies).toEqual([{ role: 'join', ttl: '24h', description: 'rack 3' }]);
    expect(await berth(api.url, ['token', 'create', '--role', 'admin'])).toMatchObject({ code: 0, out: 'berth_join_s3cr3t' });
    expect(api.bodies[1]).toEqual({ role: 'admin' });
  });

  it('-o json and -o yaml print the whole answer', async () => {
    api.on('POST /api/v1/tokens', json(201, created));
    const asJson = await berth(api.url, ['token', 'create', '--role', 'join', '-o', 'json']);
    expect(JSON.parse(asJson.out)).toEqual(created);
    expect(parse((await berth(api.url, ['token', 'create', '--role', 'join', '-o', 'yaml'])).out)).toEqual(created);
  });

  it('refuses a missing or unknown role without asking the server (exit 2), listing the roles', async () => {
    expect(await berth(api.url, ['token', 'create', '--role', 'root'])).toEqual({ code: 2, out: '', err: 'error: --role must be join, viewer, deployer or admin (got "root")', raw: '' });
    const missing = await berth(api.url, ['token', 'create']);
    expect(missing.code).toBe(2);
    expect(missing.err).toMatch(/^error: --role is required: join, viewer, deployer or admin/);
    expect(api.requests).toEqual([]);
  });

  it("reports the server's refusal of a bad ttl with exit 2", async () => {
    api.on('POST /api/v1/tokens', json(422, { code: 'INVALID', detail: 'ttl must be from 1m to 8760h (got "30s")', issues: [{ path: 'ttl', message: 'must be from 1m to 8760h (got "30s")' }] }));
    const r = await berth(api.url, ['token', 'create', '--role', 'join', '--ttl', '30s']);
    expect(r.code).toBe(2);
    expect(r.err).toContain('ttl must be from 1m to 8760h (got "30s")');
  });

  it('explains the roles, and that the secret is shown once and stored as a hash, in its help', async () => {
    const help = await berth(api.url, ['token', 'create', '--help']);
    expect(help.code).toBe(0);
    expect(help.out).toMatch(/join +agents join the cluster with it: berth agent --token/);
    expect(help.out).toMatch(/viewer +read .*\/metrics and \/sd/);
    expect(help.out).toMatch(/deployer +.*apply, scale and delete services, rollouts, logs, exec/);
    expect(help.out).toMatch(/admin +everything: nodes, tokens and privileged tasks/);
    expect(help.out).toMatch(/Only an admin token may create, list and revoke tokens/);
    expect(help.out).toMatch(/printed once and is not stored: the control plane keeps only its hash/);
    expect((await berth(api.url, ['token', '--help'])).out).toMatch(/A join token admits any number of\s+nodes until it expires or is revoked/);
  });
});

describe('berth token ls', () => {
  const items = [
    { id: 'tk1', role: 'join', createdAt: ago(4 * HOUR), expiresAt: ahead(23 * HOUR + 60_000), description: 'rack 3' },
    { id: 'tk2', role: 'admin', createdAt: ago(5 * 24 * HOUR) },
  ];

  it('lists id, role, age, expiry and description, without secrets', async () => {
    api.on('GET /api/v1/tokens', json(200, { items }));
    const r = await berth(api.url, ['token', 'ls']);
    expect(r.code).toBe(0);
    expect(r.out.split('\n').map((line) => line.split(/\s{2,}/))).toEqual([
      ['ID', 'ROLE', 'CREATED', 'EXPIRES', 'DESCRIPTION'],
      ['tk1', 'join', '4h', 'in 23h', 'rack 3'],
      ['tk2', 'admin', '5d', 'never', '-'],
    ]);
  });

  it('-o wide adds the exact times; json and yaml print the items', async () => {
    api.on('GET /api/v1/tokens', json(200, { items }));
    const wide = (await berth(api.url, ['token', 'ls', '-o', 'wide'])).out.split('\n');
    expect(wide[0]!.split(/\s{2,}/)).toEqual(['ID', 'ROLE', 'CREATED', 'EXPIRES', 'DESCRIPTION', 'CREATED-AT', 'EXPIRES-AT']);
    expect(wide[1]).toContain(items[0]!.expiresAt);
    expect(JSON.parse((await berth(api.url, ['token', 'ls', '-o', 'json'])).out)).toEqual(items);
    expect(parse((await berth(api.url, ['token', 'list', '-o', 'yaml'])).out)).toEqual(items);
    expect((await berth(api.url, ['token', 'ls', '-o', 'xml'])).code).toBe(2);
  });

  it('says so on stderr when there are none', async () => {
    api.on('GET /api/v1/tokens', json(200, { items: [] }));
    expect(await berth(api.url, ['token', 'ls'])).toMatchObject({ code: 0, out: '', err: 'No tokens found.' });
    expect((await berth(api.url, ['token', 'ls', '-o', 'json'])).out).toBe('[]');
  });
});

describe('berth token revoke', () => {
  it('revokes a token by id', async () => {
    api.on('DELETE /api/v1/tokens/tk1', json(200, { id: 'tk1', role: 'join', createdAt: ago(HOUR) }));
    expect(await berth(api.url, ['token', 'revoke', 'tk1'])).toEqual({ code: 0, out: 'token tk1 revoked', err: '', raw: '' });
  });

  it("exits 1 with the server's message for an unknown token", async () => {
    api.on('DELETE /api/v1/tokens/nope', json(404, { code: 'NOT_FOUND', detail: 'token "nope" not found' }));
    expect(await berth(api.url, ['token', 'revoke', 'nope'])).toMatchObject({ code: 1, out: '', err: 'error: token "nope" not found' });
  });

  it('exits 1 when the control plane cannot be reached', async () => {
    const r = await berth('http://127.0.0.1:1', ['token', 'revoke', 'tk1']);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^error: cannot reach the berth control plane at http:\/\/127\.0\.0\.1:1/);
  });
});

describe('token output', () => {
  const now = new Date('2026-03-01T12:00:00.000Z');
  it('shows when a token expires: never, in how long, or expired', () => {
    expect(formatExpiry(undefined, now)).toBe('never');
    expect(formatExpiry('2026-03-01T12:00:45.000Z', now)).toBe('in 45s');
    expect(formatExpiry('2026-03-09T12:00:00.000Z', now)).toBe('in 8d');
    expect(formatExpiry('2026-03-01T11:00:00.000Z', now)).toBe('expired');
  });

  it('prints a description as it is and - without one', () => {
    const table = renderList(tokenLayout, [{ id: 't', role: 'viewer', createdAt: '2026-03-01T11:59:00.000Z', description: 'grafana' }], { wide: false, now });
    expect(table.split('\n')[1]!.split(/\s{2,}/)).toEqual(['t', 'viewer', '60s', 'never', 'grafana']);
  });
});

import { connect } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { RunningAgent } from '@berth/agent';
import { startControlPlane, type RunningControlPlane } from '@berth/control-plane';
import { createCa } from '@berth/pki';
import { HollowDriver } from '@berth/runtime';
import { EmbeddedEtcd } from '@berth/store';
import { apiFetch, apiJson, createToken, withToken, type ApiAccess, type ApiResponse } from '../../support/api';
import { startHollowAgent } from '../../support/hollow-agent';
import { requireTools } from '../../support/prereq';

const ready = requireTools(['etcd']);

/**
 * Who may use the control plane's API: https only, a bearer token on every request but /healthz
 * and /readyz, and the token's role (viewer < deployer < admin) deciding what it may do. Every
 * refusal is checked twice: what the caller sees, and that nothing changed.
 */
const manifest = (name: string, replicas = 1): string => `apiVersion: berth/v1
kind: Service
metadata:
  name: ${name}
spec:
  replicas: ${replicas}
  template:
    image: 127.0.0.1:5000/busybox:1
    command: ["hollow", "run"]
`;

/** A well-formed API token that no cluster issued. */
const BOGUS = `BERTHA1-aaaaaaaaaaaa.${'a'.repeat(32)}`;

interface Problem {
  type: string;
  title: string;
  status: number;
  code: string;
  detail: string;
}
interface ServiceJson {
  metadata: { name: string; resourceVersion: string; generation: number };
  spec: { replicas: number };
}
interface NodeJson {
  metadata: { name: string; labels: Record<string, string> };
  spec: { availability: string };
}
interface EventJson {
  id: string;
  kind: string;
  object: string;
  reason: string;
  message: string;
}

/** The id in an API token `BERTHA1-<id>.<secret>`. */
const tokenId = (token: string): string => {
  const m = /^BERTHA1-([a-z0-9]+)\./.exec(token);
  if (!m) throw new Error(`not an API token: ${token.slice(0, 12)}…`);
  return m[1]!;
};

const eventually = <T>(check: () => Promise<T>, timeout = 30_000): Promise<T> => vi.waitFor(check, { timeout, interval: 100 });

describe.runIf(ready)('API access: https, bearer tokens and roles', () => {
  let dir = '';
  let etcd: EmbeddedEtcd | undefined;
  let cp: RunningControlPlane | undefined;
  let agent: RunningAgent | undefined;
  let admin: ApiAccess;
  let viewer: ApiAccess;
  let deployer: ApiAccess;
  let anonymous: ApiAccess;

  const json = (body: unknown) => ({ headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const apply = (as: ApiAccess, name: string, replicas = 1): Promise<ApiResponse> =>
    apiFetch(as, '/api/v1/apply', { method: 'POST', headers: { 'content-type': 'application/yaml' }, body: manifest(name, replicas) });
  /** What the admin sees of a service, or undefined when there is none. */
  const service = async (name: string): Promise<ServiceJson | undefined> => {
    const res = await apiFetch(admin, `/api/v1/services/${name}`);
    if (res.status === 404) return undefined;
    if (!res.ok) throw new Error(`GET /api/v1/services/${name}: ${res.status} ${await res.text()}`);
    return res.json<ServiceJson>();
  };
  const serviceNames = async (): Promise<string[]> => (await apiJson<ServiceJson[]>(admin, '/api/v1/services')).map((s) => s.metadata.name).sort();
  const tokenIds = async (): Promise<string[]> => (await apiJson<{ items: { id: string }[] }>(admin, '/api/v1/tokens')).items.map((t) => t.id).sort();
  const nodeN1 = () => apiJson<NodeJson>(admin, '/api/v1/nodes/n1');
  /** What a write could change of node n1 (its status moves on its own). */
  const n1Settings = async () => {
    const { metadata, spec } = await nodeN1();
    return { metadata, spec };
  };
  /** What a write could change of a service (its status moves on its own). */
  const settingsOf = async (name: string) => {
    const s = await service(name);
    return s && { metadata: s.metadata, spec: s.spec };
  };

  /** A 401 as a client sees it: the status, the Bearer challenge, a problem document. */
  async function expectUnauthenticated(res: ApiResponse): Promise<Problem> {
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toMatch(/^Bearer\b/);
    expect(res.headers.get('content-type')).toContain('application/problem+json');
    const problem = await res.json<Problem>();
    expect(problem).toMatchObject({ status: 401, code: 'UNAUTHENTICATED' });
    return problem;
  }

  /** A 403 naming the role the request needs and the role the token has. */
  async function expectForbidden(res: ApiResponse, has: string, needs: string): Promise<void> {
    expect(res.status).toBe(403);
    expect(res.headers.get('content-type')).toContain('application/problem+json');
    expect(await res.json<Problem>()).toMatchObject({ status: 403, code: 'FORBIDDEN', detail: `this token's role "${has}" may not do this: it needs "${needs}"` });
  }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-api-access-'));
    etcd = await EmbeddedEtcd.start({ dataDir: join(dir, 'etcd') });
    cp = await startControlPlane({
      dataDir: join(dir, 'cp'),
      api: { host: '127.0.0.1', port: 0 },
      grpc: { host: '127.0.0.1', port: 0 },
      etcdEndpoints: etcd.endpoints,
      etcdTls: etcd.clientTls,
      leaderTtlSeconds: 2,
    });
    admin = cp.admin;
    anonymous = withToken(admin, undefined);
    viewer = withToken(admin, (await createToken(admin, 'viewer', 'api-access viewer')).token);
    deployer = withToken(admin, (await createToken(admin, 'deployer', 'api-access deployer')).token);
    agent = await startHollowAgent({ server: cp.grpcAddress, name: 'n1', dataDir: join(dir, 'n1'), driver: new HollowDriver(), token: (await cp.createToken({ role: 'join' })).token });
    await eventually(async () => expect((await nodeN1()).spec.availability).toBe('active'));
    // A service that is there before any refused request, to see that those leave it alone.
    expect((await apply(admin, 'base')).status).toBe(200);
  });

  afterAll(async () => {
    await agent?.stop();
    await cp?.stop();
    await etcd?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('serves https with a certificate of the cluster CA, and admin access as admin.yaml holds it', async () => {
    expect(cp!.apiUrl).toMatch(/^https:\/\/127\.0\.0\.1:[1-9]\d*$/);
    expect(admin.server).toBe(cp!.apiUrl);
    expect(admin.ca).toContain('-----BEGIN CERTIFICATE-----');
    expect(admin.token).toMatch(/^BERTHA1-[a-z0-9]+\.[a-z0-9]+$/);
    expect(cp!.adminConfigFile).toBe(join(dir, 'cp', 'admin.yaml'));
    // A client that does not know the cluster CA refuses the server's certificate.
    const stranger = await apiFetch({ ...admin, ca: createCa({ commonName: 'someone else' }).certPem }, '/healthz').then(
      (r) => `HTTP ${r.status}`,
      (e: NodeJS.ErrnoException) => e.code ?? e.message,
    );
    expect(stranger).toMatch(/CERT|SIGNATURE|ISSUER|self.signed|verify/i);
  });

  it('answers /healthz and /readyz without a token', async () => {
    for (const path of ['/healthz', '/readyz']) {
      const res = await apiFetch(anonymous, path);
      expect(res.status, `${path}: ${await res.text()}`).toBe(200);
    }
  });

  it('refuses a request without a token with 401, a Bearer challenge and a problem document, and changes nothing', async () => {
    const names = await serviceNames();
    const base = await settingsOf('base');
    for (const path of ['/api/v1/services', '/api/v1/nodes', '/api/v1/events', '/metrics', '/sd']) {
      const problem = await expectUnauthenticated(await apiFetch(anonymous, path));
      expect(problem.detail, path).toMatch(/token/i);
    }
    await expectUnauthenticated(await apply(anonymous, 'sneaky'));
    await expectUnauthenticated(await apiFetch(anonymous, '/api/v1/services/base/scale', { method: 'PUT', ...json({ replicas: 7 }) }));
    // Another scheme is no token either.
    await expectUnauthenticated(await apiFetch(anonymous, '/api/v1/services', { headers: { authorization: `Basic ${Buffer.from('admin:admin').toString('base64')}` } }));
    expect(await serviceNames()).toEqual(names);
    expect(await service('sneaky')).toBeUndefined();
    expect(await settingsOf('base')).toEqual(base);
  });

  it('refuses a made-up token, well-formed or not, with 401, and changes nothing', async () => {
    const tokens = await tokenIds();
    for (const token of [BOGUS, 'not-a-token', `${admin.token!}x`]) {
      await expectUnauthenticated(await apiFetch(withToken(admin, token), '/api/v1/services'));
      await expectUnauthenticated(await apply(withToken(admin, token), 'sneaky'));
      await expectUnauthenticated(await apiFetch(withToken(admin, token), '/api/v1/tokens', { method: 'POST', ...json({ role: 'admin' }) }));
    }
    expect(await service('sneaky')).toBeUndefined();
    expect(await tokenIds()).toEqual(tokens);
  });

  it('lets a viewer read services, nodes, events, /metrics and /sd', async () => {
    expect((await apiJson<ServiceJson[]>(viewer, '/api/v1/services')).map((s) => s.metadata.name)).toContain('base');
    expect((await apiJson<NodeJson[]>(viewer, '/api/v1/nodes')).map((n) => n.metadata.name)).toEqual(['n1']);
    expect((await apiJson<ServiceJson>(viewer, '/api/v1/services/base')).spec.replicas).toBe(1);
    expect(await apiJson<{ items: unknown[] }>(viewer, '/api/v1/events')).toMatchObject({ items: expect.any(Array) });
    const metrics = await apiFetch(viewer, '/metrics');
    expect(metrics.status).toBe(200);
    expect(await metrics.text()).toMatch(/^berth_leader [01]$/m);
    const sd = await apiJson<{ targets: string[]; labels: Record<string, string> }[]>(viewer, '/sd');
    expect(sd).toContainEqual({ targets: [new URL(cp!.apiUrl).host], labels: expect.objectContaining({ __scheme__: 'https', __meta_berth_role: 'control-plane' }) });
  });

  it('refuses a viewer every write with 403 naming the role it needs, and changes nothing', async () => {
    const before = await settingsOf('base');
    const tokens = await tokenIds();
    await expectForbidden(await apply(viewer, 'web'), 'viewer', 'deployer');
    expect(await service('web')).toBeUndefined();
    await expectForbidden(await apiFetch(viewer, '/api/v1/services/base/scale', { method: 'PUT', ...json({ replicas: 3 }) }), 'viewer', 'deployer');
    await expectForbidden(await apiFetch(viewer, '/api/v1/services/base', { method: 'DELETE' }), 'viewer', 'deployer');
    expect(await settingsOf('base')).toEqual(before);
    await expectForbidden(await apiFetch(viewer, '/api/v1/tokens', { method: 'POST', ...json({ role: 'admin' }) }), 'viewer', 'admin');
    await expectForbidden(await apiFetch(viewer, '/api/v1/tokens'), 'viewer', 'admin');
    expect(await tokenIds()).toEqual(tokens);
  });

  it('lets a deployer apply, scale and delete a service', async () => {
    const applied = await apply(deployer, 'web');
    expect(applied.status, await applied.text()).toBe(200);
    expect((await service('web'))?.spec.replicas).toBe(1);
    const scaled = await apiFetch(deployer, '/api/v1/services/web/scale', { method: 'PUT', ...json({ replicas: 2 }) });
    expect(scaled.status, await scaled.text()).toBe(200);
    expect((await service('web'))?.spec.replicas).toBe(2);
    const deleted = await apiFetch(deployer, '/api/v1/services/web', { method: 'DELETE' });
    expect(deleted.status, await deleted.text()).toBe(200);
    expect(await service('web')).toBeUndefined();
  });

  it('refuses a deployer node writes and tokens with 403 naming "admin", and changes nothing', async () => {
    const node = await n1Settings();
    const tokens = await tokenIds();
    await expectForbidden(await apiFetch(deployer, '/api/v1/nodes/n1', { method: 'DELETE' }), 'deployer', 'admin');
    await expectForbidden(await apiFetch(deployer, '/api/v1/nodes/x', { method: 'DELETE' }), 'deployer', 'admin');
    await expectForbidden(await apiFetch(deployer, '/api/v1/nodes/n1/availability', { method: 'PUT', ...json({ availability: 'drain' }) }), 'deployer', 'admin');
    await expectForbidden(await apiFetch(deployer, '/api/v1/nodes/n1/labels', { method: 'PATCH', ...json({ set: { zone: 'b' } }) }), 'deployer', 'admin');
    await expectForbidden(await apiFetch(deployer, '/api/v1/tokens', { method: 'POST', ...json({ role: 'deployer' }) }), 'deployer', 'admin');
    await expectForbidden(await apiFetch(deployer, `/api/v1/tokens/${tokenId(viewer.token!)}`, { method: 'DELETE' }), 'deployer', 'admin');
    expect(await n1Settings()).toEqual(node);
    expect(await tokenIds()).toEqual(tokens);
    // The viewer's token still works: the deployer revoked nothing.
    expect((await apiFetch(viewer, '/api/v1/services')).status).toBe(200);
  });

  it('lets only an admin apply a privileged task: a deployer gets 403 naming it, and nothing is written', async () => {
    const privileged = `${manifest('root-on-node')}    securityContext: { privileged: true }\n`;
    const post = (as: typeof admin) => apiFetch(as, '/api/v1/apply', { method: 'POST', headers: { 'content-type': 'application/yaml' }, body: privileged });
    const refused = await post(deployer);
    expect(refused.status).toBe(403);
    expect((await refused.json<{ detail: string }>()).detail).toBe('service root-on-node has securityContext.privileged: true, which needs an admin token (this token\'s role is "deployer")');
    expect(await service('root-on-node')).toBeUndefined();
    const applied = await post(admin);
    expect(applied.status, await applied.text()).toBe(200);
    expect(await service('root-on-node')).toMatchObject({ spec: { template: { securityContext: { privileged: true } } } });
    // Scaling an existing privileged service changes no privilege: a deployer's to do.
    expect((await apiFetch(deployer, '/api/v1/services/root-on-node/scale', { method: 'PUT', ...json({ replicas: 0 }) })).status).toBe(200);
    expect((await apiFetch(admin, '/api/v1/services/root-on-node', { method: 'DELETE' })).status).toBe(200);
  });

  it('lets an admin change node availability and create and revoke tokens', async () => {
    const paused = await apiFetch(admin, '/api/v1/nodes/n1/availability', { method: 'PUT', ...json({ availability: 'pause' }) });
    expect(paused.status, await paused.text()).toBe(200);
    expect((await nodeN1()).spec.availability).toBe('pause');
    const back = await apiFetch(admin, '/api/v1/nodes/n1/availability', { method: 'PUT', ...json({ availability: 'active' }) });
    expect(back.status, await back.text()).toBe(200);
    expect((await nodeN1()).spec.availability).toBe('active');
    const made = await createToken(admin, 'deployer', 'made by the admin');
    expect(await tokenIds()).toContain(made.id);
    expect((await apply(withToken(admin, made.token), 'by-new-deployer')).status).toBe(200);
    const revoked = await apiFetch(admin, `/api/v1/tokens/${made.id}`, { method: 'DELETE' });
    expect(revoked.status, await revoked.text()).toBe(200);
    expect(await tokenIds()).not.toContain(made.id);
  });

  it('refuses a revoked viewer token at once, and an expired one', async () => {
    const made = await createToken(admin, 'viewer', 'revoked next');
    const soon = withToken(admin, made.token);
    expect((await apiFetch(soon, '/api/v1/services')).status).toBe(200);
    expect((await apiFetch(admin, `/api/v1/tokens/${made.id}`, { method: 'DELETE' })).status).toBe(200);
    // No cache to wait out: the very next request is refused.
    await expectUnauthenticated(await apiFetch(soon, '/api/v1/services'));
    await expectUnauthenticated(await apiFetch(soon, '/metrics'));

    const short = await cp!.createToken({ role: 'viewer', ttlSeconds: 1 });
    const expiring = withToken(admin, short.token);
    expect((await apiFetch(expiring, '/api/v1/services')).status).toBe(200);
    await eventually(async () => expect((await apiFetch(expiring, '/api/v1/services')).status).toBe(401), 15_000);
    await expectUnauthenticated(await apiFetch(expiring, '/api/v1/services'));
  });

  it('refuses a join token on the API', async () => {
    const join = await cp!.createToken({ role: 'join' });
    await expectUnauthenticated(await apiFetch(withToken(admin, join.token), '/api/v1/services'));
  });

  it('gets no HTTP answer to plain http on the API port: it speaks TLS only', async () => {
    const { hostname, port } = new URL(cp!.apiUrl);
    const reply = await new Promise<string>((resolve) => {
      let got = '';
      const socket = connect({ host: hostname, port: Number(port) });
      const done = () => {
        socket.destroy();
        resolve(got);
      };
      socket.setTimeout(3_000, done);
      socket.on('data', (d: Buffer) => (got += d.toString('latin1')));
      socket.on('close', done);
      socket.on('error', done);
      socket.on('connect', () => socket.write(`GET /healthz HTTP/1.1\r\nHost: ${hostname}:${port}\r\nConnection: close\r\n\r\n`));
    });
    expect(reply.startsWith('HTTP/'), `plain http was answered:\n${reply.slice(0, 200)}`).toBe(false);
    // The test helper refuses plain http too, so no test can take that path by mistake.
    await expect(apiFetch(admin, `http://${hostname}:${port}/healthz`)).rejects.toThrow('https only');
  });

  it('records every mutating request as an audit event naming the token, the method and the path', async () => {
    const applied = await apply(deployer, 'audited');
    expect(applied.status).toBe(200);
    const made = await createToken(admin, 'viewer', 'audited');
    const denied = await apply(viewer, 'never');
    expect(denied.status).toBe(403);
    const events = await eventually(async () => {
      const items = (await apiJson<{ items: EventJson[] }>(viewer, '/api/v1/events')).items.filter((e) => e.kind === 'audit');
      expect(items.length).toBeGreaterThanOrEqual(3);
      return items;
    });
    expect(events).toContainEqual(expect.objectContaining({ kind: 'audit', reason: 'Request', object: `token:${tokenId(deployer.token!)}`, message: expect.stringContaining('POST /api/v1/apply') }));
    expect(events).toContainEqual(expect.objectContaining({ kind: 'audit', reason: 'Request', object: `token:${tokenId(admin.token!)}`, message: expect.stringContaining('POST /api/v1/tokens') }));
    expect(events).toContainEqual(expect.objectContaining({ kind: 'audit', reason: 'Denied', object: `token:${tokenId(viewer.token!)}`, message: expect.stringContaining('POST /api/v1/apply') }));
    // Reads are not audited, and no event holds a secret.
    expect(events.filter((e) => /\bGET\b/.test(e.message))).toEqual([]);
    const secrets = [admin.token!, deployer.token!, viewer.token!, made.token].map((t) => t.split('.')[1]!);
    const all = JSON.stringify((await apiJson<{ items: EventJson[] }>(admin, '/api/v1/events')).items);
    for (const s of secrets) expect(all).not.toContain(s);
  });
});

import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startControlPlane, type RunningControlPlane } from '@berth/control-plane';
import { createEtcdClient, EmbeddedEtcd, EtcdStore, type Etcd3 } from '@berth/store';
import { requireTools } from '../../support/prereq';
import { copyClusterCa } from '../../support/cluster-ca';
import { createCa } from '@berth/pki';
import { apiFetch, withToken, type ApiAccess } from '../../support/api';

const ready = requireTools(['etcd']);

const WEB = `apiVersion: berth/v1
kind: Service
metadata:
  name: web
spec:
  replicas: 3
  template:
    image: 127.0.0.1:5000/busybox:1
    command: ["httpd", "-f", "-p", "8080"]
`;

interface ServiceJson {
  metadata: { name: string; resourceVersion: string; generation: number };
  spec: { replicas: number };
  status: { desired: number; running: number; updated: number };
}
interface ApplyJson {
  items: { name: string; action: string; service: ServiceJson }[];
}

/** One API request over https with `access`'s CA and token (a replica's admin, unless told otherwise). */
async function call<T = unknown>(access: ApiAccess, method: string, path: string, body?: unknown): Promise<{ status: number; json: T }> {
  const res = await apiFetch(access, path, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  const json: unknown = text && res.headers.get('content-type')?.includes('json') ? JSON.parse(text) : text;
  return { status: res.status, json: json as T };
}

async function isLeader(cp: RunningControlPlane): Promise<boolean> {
  const { json } = await call<string>(cp.admin, 'GET', '/metrics');
  return /^berth_leader 1$/m.test(json);
}

describe.runIf(ready)('control plane replicas on one etcd', () => {
  let dir = '';
  let etcd: EmbeddedEtcd | undefined;
  const planes: RunningControlPlane[] = [];
  let survivor: RunningControlPlane | undefined;
  let client: Etcd3 | undefined;
  let store: EtcdStore;

  const start = (id: string): Promise<RunningControlPlane> =>
    startControlPlane({
      dataDir: join(dir, id),
      api: { host: '127.0.0.1', port: 0 },
      grpc: { host: '127.0.0.1', port: 0 },
      etcdEndpoints: etcd!.endpoints,
      etcdTls: etcd!.clientTls,
      id,
      leaderTtlSeconds: 2,
    });

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-cp-'));
    etcd = await EmbeddedEtcd.start({ dataDir: join(dir, 'etcd') });
    client = createEtcdClient({ endpoints: etcd.endpoints, tls: etcd.clientTls });
    store = new EtcdStore(client);
    planes.push(await start('cp-a'));
    // A second replica of the cluster holds its CA too, copied by the operator.
    await copyClusterCa(join(dir, 'cp-a'), join(dir, 'cp-b'));
    planes.push(await start('cp-b'));
  });

  afterAll(async () => {
    for (const cp of planes) await cp.stop();
    client?.close();
    await etcd?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('serves the API from both replicas', async () => {
    const [a, b] = planes as [RunningControlPlane, RunningControlPlane];
    const applied = await call<ApplyJson>(a.admin, 'POST', '/api/v1/apply', { sources: [{ file: 'web.yaml', text: WEB }] });
    expect(applied.status).toBe(200);
    expect(applied.json.items[0]).toMatchObject({ name: 'web', action: 'created' });
    // /readyz is open (no token), but https too.
    for (const cp of planes) expect((await call(withToken(cp.admin, undefined), 'GET', '/readyz')).status).toBe(200);
    // A token one replica's admin.yaml holds is the cluster's: the other replica takes it too.
    expect((await call(withToken(b.admin, a.admin.token), 'GET', '/api/v1/services')).status).toBe(200);
    const seen = await call<ServiceJson>(b.admin, 'GET', '/api/v1/services/web');
    expect(seen.json.metadata.resourceVersion).toBe(applied.json.items[0]!.service.metadata.resourceVersion);
    expect(a.grpcAddress).toMatch(/^127\.0\.0\.1:[1-9]\d*$/);
    expect(b.grpcAddress).not.toBe(a.grpcAddress);
  });

  it('has exactly one leader', async () => {
    await vi.waitFor(async () => expect((await Promise.all(planes.map(isLeader))).filter(Boolean)).toHaveLength(1), { timeout: 30_000, interval: 200 });
  });

  it('writes the status under its own key without touching the resourceVersion', async () => {
    const before = (await call<ServiceJson>(planes[0]!.admin, 'GET', '/api/v1/services/web')).json;
    await vi.waitFor(async () => expect(await store.getServiceStatus('web')).toMatchObject({ desired: 3, running: 0, observedGeneration: 1 }), {
      timeout: 30_000,
      interval: 200,
    });
    const after = (await call<ServiceJson>(planes[1]!.admin, 'GET', '/api/v1/services/web')).json;
    expect(after.status).toMatchObject({ desired: 3, running: 0 });
    expect(after.metadata.resourceVersion).toBe(before.metadata.resourceVersion);
  });

  it('hands leadership over when the leader stops, and the new leader keeps status current', async () => {
    const flags = await Promise.all(planes.map(isLeader));
    const leader = planes[flags.indexOf(true)]!;
    const follower = planes[flags.indexOf(false)]!;
    await leader.stop();
    survivor = follower;
    await vi.waitFor(async () => expect(await isLeader(follower)).toBe(true), { timeout: 30_000, interval: 200 });

    const scaled = await call(follower.admin, 'PUT', '/api/v1/services/web/scale', { replicas: 5 });
    expect(scaled.status).toBe(200);
    await vi.waitFor(async () => expect(await store.getServiceStatus('web')).toMatchObject({ desired: 5, running: 0, observedGeneration: 2 }), {
      timeout: 30_000,
      interval: 200,
    });
    expect((await call<ServiceJson>(follower.admin, 'GET', '/api/v1/services/web')).json.status).toMatchObject({ desired: 5, running: 0 });
  });

  it('refuses an API address that is already in use, naming it', async () => {
    const taken = new URL((survivor ?? planes[0]!).apiUrl);
    await copyClusterCa(join(dir, 'cp-a'), join(dir, 'cp-c'));
    const outcome = await startControlPlane({
      dataDir: join(dir, 'cp-c'),
      api: { host: '127.0.0.1', port: Number(taken.port) },
      grpc: { host: '127.0.0.1', port: 0 },
      etcdEndpoints: etcd!.endpoints,
      etcdTls: etcd!.clientTls,
      id: 'cp-c',
    }).catch((e: unknown) => e);
    if (!(outcome instanceof Error)) planes.push(outcome as RunningControlPlane);
    expect((outcome as Error).message).toBe(`cannot listen on 127.0.0.1:${taken.port}: address already in use (is another berth server running?)`);
  });

  it("refuses to start a replica without the cluster's CA key, or with another CA, saying what to copy", async () => {
    const opts = (id: string) => ({ dataDir: join(dir, id), api: { host: '127.0.0.1', port: 0 }, grpc: { host: '127.0.0.1', port: 0 }, etcdEndpoints: etcd!.endpoints, etcdTls: etcd!.clientTls, id });
    const bare = await startControlPlane(opts('cp-bare')).catch((e: unknown) => e);
    if (!(bare instanceof Error)) planes.push(bare as RunningControlPlane);
    expect((bare as Error).message).toMatch(/this cluster's CA \(fingerprint [0-9a-f]{64}\) is in etcd, but its key is not in .*cp-bare\/pki: copy ca\.pem and ca\.key there/);
    const other = createCa({ commonName: 'another cluster' });
    await mkdir(join(dir, 'cp-other', 'pki'), { recursive: true });
    await writeFile(join(dir, 'cp-other', 'pki', 'ca.pem'), other.certPem);
    await writeFile(join(dir, 'cp-other', 'pki', 'ca.key'), other.keyPem, { mode: 0o600 });
    const wrong = await startControlPlane(opts('cp-other')).catch((e: unknown) => e);
    if (!(wrong instanceof Error)) planes.push(wrong as RunningControlPlane);
    expect((wrong as Error).message).toMatch(/holds a CA .* other than this cluster's .*: this data dir belongs to another cluster/);
  });
});

import { createPrivateKey, createPublicKey, X509Certificate } from 'node:crypto';
import { readFile, mkdtemp, rm } from 'node:fs/promises';
import { connect as http2Connect } from 'node:http2';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { credentials, Metadata, status, type ChannelCredentials, type ServiceError } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startControlPlane, type RunningControlPlane } from '@berth/control-plane';
import { createCa, createCsr, issueCertificate, newPrivateKey } from '@berth/pki';
import { DispatcherServiceClient, NodeCaServiceClient, TaskHealth, TaskState, type RenewRequest, type RenewResponse, type SessionRequest, type SessionResponse } from '@berth/proto';
import { createEtcdClient, EmbeddedEtcd, EtcdStore, keyspace, type Etcd3 } from '@berth/store';
import { HollowDriver } from '@berth/runtime';
import type { RunningAgent } from '@berth/agent';
import { requireTools } from '../../support/prereq';
import { startHollowAgent } from '../../support/hollow-agent';
import { apiFetch } from '../../support/api';

const ready = requireTools(['etcd']);

const WEB = `apiVersion: berth/v1
kind: Service
metadata:
  name: web
spec:
  replicas: 1
  template:
    image: 127.0.0.1:5000/busybox:1
    command: ["hollow", "run"]
`;

const eventually = <T>(check: () => Promise<T>, timeout = 30_000): Promise<T> => vi.waitFor(check, { timeout, interval: 100 });

/** How a session ended, as the agent's side of the stream sees it (or 'open' when it did not within the wait). */
function sessionOutcome(client: DispatcherServiceClient, first: SessionRequest[], waitMs = 5_000): Promise<{ code: status | 'open' | 'ended'; details: string; received: SessionResponse[] }> {
  return new Promise((resolve) => {
    const call = client.session();
    const received: SessionResponse[] = [];
    const timer = setTimeout(() => {
      call.cancel();
      resolve({ code: 'open', details: '', received });
    }, waitMs);
    call.on('data', (m: SessionResponse) => received.push(m));
    call.on('error', (e: ServiceError) => {
      clearTimeout(timer);
      resolve({ code: e.code, details: e.details, received });
    });
    call.on('end', () => {
      clearTimeout(timer);
      resolve({ code: 'ended', details: '', received });
    });
    for (const m of first) call.write(m);
  });
}

const hello = (nodeName: string, tasks: SessionRequest[] = []): SessionRequest[] => [
  {
    msg: {
      $case: 'hello',
      value: { nodeName, agentVersion: 'test', address: '127.0.0.1', capacity: { cpuMillis: 1000, memoryBytes: 1 << 30 }, drivers: ['hollow'], runtimes: ['container'], labels: {}, metricsAddress: '', tasks: [], driverDetails: {} },
    },
  },
  ...tasks,
];

describe.runIf(ready)('who may talk to the agent port', () => {
  let dir = '';
  let etcd: EmbeddedEtcd | undefined;
  let client: Etcd3 | undefined;
  let store: EtcdStore;
  let cp: RunningControlPlane | undefined;
  let caPem = '';
  const agents: RunningAgent[] = [];
  const clients: { close(): void }[] = [];
  const agentLog: string[] = [];

  const tracked = <C extends { close(): void }>(c: C): C => (clients.push(c), c);
  const dispatcher = (creds: ChannelCredentials) => tracked(new DispatcherServiceClient(cp!.grpcAddress, creds));
  const nodeCa = (creds: ChannelCredentials) => tracked(new NodeCaServiceClient(cp!.grpcAddress, creds));
  const unary = <Req, Res>(fn: (req: Req, md: Metadata, cb: (e: ServiceError | null, r?: Res) => void) => unknown, req: Req): Promise<Res> =>
    new Promise((resolve, reject) => fn(req, new Metadata(), (e, r) => (e ? reject(e) : resolve(r!))));
  /** A node's mTLS credentials from its agent's files (read again while a renewal is between writing the two). */
  const nodeCredentials = (agentDir: string): Promise<ChannelCredentials> =>
    eventually(async () => {
      const [key, cert] = [await readFile(join(agentDir, 'pki', 'node.key')), await readFile(join(agentDir, 'pki', 'node.pem'))];
      if (!new X509Certificate(cert).checkPrivateKey(createPrivateKey(key))) throw new Error('renewal in progress');
      return credentials.createSsl(Buffer.from(caPem), key, cert);
    });
  const nodes = async () => (await store.listNodes()).map((n) => n.name).sort();
  const joinToken = async () => (await cp!.createToken({ role: 'join' })).token;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-access-'));
    etcd = await EmbeddedEtcd.start({ dataDir: join(dir, 'etcd') });
    client = createEtcdClient({ endpoints: etcd.endpoints, tls: etcd.clientTls });
    store = new EtcdStore(client);
    cp = await startControlPlane({
      dataDir: join(dir, 'cp'),
      api: { host: '127.0.0.1', port: 0 },
      grpc: { host: '127.0.0.1', port: 0 },
      etcdEndpoints: etcd.endpoints,
      etcdTls: etcd.clientTls,
      leaderTtlSeconds: 2,
      nodeGraceMs: 1_000,
      // Short enough to see agents renew during the test: at 5–8 s.
      nodeCertificateLifetimeMs: 10_000,
    });
    caPem = await readFile(cp.caFile, 'utf8');
    for (const name of ['n1', 'n2']) {
      agents.push(
        await startHollowAgent({ server: cp.grpcAddress, name, dataDir: join(dir, name), driver: new HollowDriver(), token: await joinToken(), log: (l) => agentLog.push(`${name}: ${l}`) }),
      );
    }
    await eventually(async () => expect(await nodes()).toEqual(['n1', 'n2']));
  });

  afterAll(async () => {
    for (const c of clients) c.close();
    for (const a of agents) await a.stop();
    await cp?.stop();
    client?.close();
    await etcd?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('answers no plaintext HTTP/2 request on the agent port', async () => {
    const session = http2Connect(`http://${cp!.grpcAddress}`);
    const outcome = await new Promise<string>((resolve) => {
      session.on('error', (e) => resolve(`error: ${e.message}`));
      const req = session.request({ ':method': 'POST', ':path': '/berth.agent.v1.NodeCaService/GetCa', 'content-type': 'application/grpc' });
      req.on('response', () => resolve('answered'));
      req.on('error', (e) => resolve(`error: ${e.message}`));
      req.end();
      setTimeout(() => resolve('no answer'), 3_000);
    });
    session.destroy();
    expect(outcome).not.toBe('answered');
  });

  it('refuses a session without a client certificate, and one with a certificate of another CA, changing nothing', async () => {
    const before = await nodes();
    const anonymous = await sessionOutcome(dispatcher(credentials.createSsl(Buffer.from(caPem))), hello('n3'));
    expect(anonymous).toMatchObject({ code: status.UNAUTHENTICATED, details: expect.stringContaining("a node certificate of this cluster's CA is needed") });
    const other = createCa({ commonName: 'someone else' });
    const key = newPrivateKey();
    const forged = issueCertificate(other, { publicKey: createPublicKey(createPrivateKey(key)), commonName: 'node:n3', uses: ['client'], lifetimeMs: 3_600_000 });
    const foreign = await sessionOutcome(dispatcher(credentials.createSsl(Buffer.from(caPem), Buffer.from(key), Buffer.from(forged))), hello('n3'));
    expect(foreign).toMatchObject({ code: status.UNAUTHENTICATED, details: expect.stringContaining("a node certificate of this cluster's CA is needed") });
    expect(await nodes()).toEqual(before);
  });

  it('refuses joins with a revoked token, a made-up one, one for another CA and an API token; a good token cannot take over a joined node name', async () => {
    const ca = nodeCa(credentials.createSsl(Buffer.from(caPem)));
    const csr = (name: string) => createCsr(newPrivateKey(), `node:${name}`);
    const join = (token: string, name: string) => unary(ca.join.bind(ca), { token, csrPem: csr(name) });
    const revoked = await cp!.createToken({ role: 'join' });
    const res = await apiFetch(cp!.admin, `/api/v1/tokens/${revoked.id}`, { method: 'DELETE' });
    expect(res.status).toBe(200);
    await expect(join(revoked.token, 'n4')).rejects.toMatchObject({ code: status.UNAUTHENTICATED, details: `token ${revoked.id} is unknown, expired or revoked` });
    const good = await joinToken();
    const madeUp = good.replace(/\.[a-z0-9]+$/, `.${'a'.repeat(32)}`);
    await expect(join(madeUp, 'n4')).rejects.toMatchObject({ code: status.UNAUTHENTICATED });
    const otherCa = good.replace(/^BERTHJ1-[0-9a-f]{64}/, `BERTHJ1-${'0'.repeat(64)}`);
    await expect(join(otherCa, 'n4')).rejects.toMatchObject({ code: status.UNAUTHENTICATED, details: "the join token is for another cluster's CA" });
    await expect(join(good, 'n1')).rejects.toMatchObject({ code: status.ALREADY_EXISTS, details: expect.stringContaining('node "n1" has joined already') });
    expect(await nodes()).toEqual(['n1', 'n2']);
    expect(await client!.get(keyspace().nodeCertificates('n4'))).toBeNull();
    // An API token (here a viewer's, made over the API by the admin) admits no node.
    const viewer = await apiFetch(cp!.admin, '/api/v1/tokens', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ role: 'viewer' }) });
    expect(viewer.status).toBe(201);
    await expect(join((await viewer.json<{ token: string }>()).token, 'n4')).rejects.toMatchObject({ code: status.UNAUTHENTICATED });
    expect(await nodes()).toEqual(['n1', 'n2']);
    expect(await client!.get(keyspace().nodeCertificates('n4'))).toBeNull();
  });

  it("refuses a Hello naming another node, and a status for another node's task, writing nothing", async () => {
    const applied = await apiFetch(cp!.admin, '/api/v1/apply', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ sources: [{ file: 'web.yaml', text: WEB }] }) });
    expect(applied.status, await applied.text()).toBe(200);
    const task = await eventually(async () => {
      const t = (await store.listTasks('web')).find((x) => x.nodeName !== undefined && x.status.state === 'running');
      if (!t) throw new Error('web not running yet');
      return t;
    });
    const owner = task.nodeName!;
    const intruder = owner === 'n1' ? 'n2' : 'n1';
    const creds = await nodeCredentials(join(dir, intruder));

    const spoofed = await sessionOutcome(dispatcher(creds), hello(owner));
    expect(spoofed).toMatchObject({ code: status.PERMISSION_DENIED, details: `this session's certificate is node ${intruder}'s: it cannot speak for node ${owner}` });

    const failed = { taskId: task.id, state: TaskState.TASK_STATE_FAILED, seq: 1, message: 'forged', updatedAtMs: Date.now(), health: TaskHealth.TASK_HEALTH_UNSPECIFIED };
    const report = await sessionOutcome(dispatcher(creds), hello(intruder, [{ msg: { $case: 'status', value: { statuses: [failed] } } }]));
    expect(report).toMatchObject({ code: status.PERMISSION_DENIED, details: `node ${intruder} reported a status for task ${task.id}, which is node ${owner}'s` });
    const after = await store.getTask(task.id);
    expect(after?.status.state).toBe('running');
    expect(after?.status.message ?? '').not.toBe('forged');
  });

  it('renews node certificates before they expire without dropping the session', async () => {
    const serial = async (name: string) => new X509Certificate(await readFile(join(dir, name, 'pki', 'node.pem'))).serialNumber;
    const first = await serial('n1');
    await eventually(async () => expect(await serial('n1')).not.toBe(first), 20_000);
    expect(agentLog.filter((l) => l.startsWith('n1: ') && /session .* ended/.test(l))).toEqual([]);
    expect(agentLog.some((l) => l.startsWith('n1: certificate renewed'))).toBe(true);
    expect((await store.getNode('n1'))?.state).toBe('ready');
    // Both certificates work: the renewed one for new sessions.
    const renewed = await nodeCredentials(join(dir, 'n1'));
    const ca = nodeCa(renewed);
    const again = await unary<RenewRequest, RenewResponse>(ca.renew.bind(ca), { csrPem: createCsr(newPrivateKey(), 'node:n1') });
    expect(again.certificatePem).toContain('BEGIN CERTIFICATE');
  });

  it('revokes every certificate of a removed node: its session ends at once and cannot come back', async () => {
    const creds = await nodeCredentials(join(dir, 'n2'));
    const res = await apiFetch(cp!.admin, '/api/v1/nodes/n2?force=true', { method: 'DELETE' });
    expect(res.status).toBeLessThan(300);
    await eventually(async () => expect(agentLog.some((l) => l.startsWith('n2: ') && /refused this node's certificate/.test(l))).toBe(true));
    const retry = await sessionOutcome(dispatcher(creds), hello('n2'));
    expect(retry).toMatchObject({ code: status.UNAUTHENTICATED, details: expect.stringContaining('was revoked') });
    expect(await nodes()).toEqual(['n1']);
  });
});

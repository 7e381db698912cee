import { createPublicKey } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { EXEC_UPGRADE, ExecFrameType, encodeExecFrame } from '@berth/api';
import { createCa, issueCertificate, newPrivateKey, type KeyedCertificate } from '@berth/pki';
import { berth } from '../__fixtures__/stand-in';
import { formatAccessConfig } from '@berth/api';
import { ApiError, UntrustedServerError } from '../errors';
import { BerthClient } from './http-client';

const TOKEN = 'BERTHA1-abcdefghijkl.0123456789abcdefghijklmnopqrstuv';
const HOUR = 3_600_000;

/** A TLS server with a certificate of `ca` for `names`, answering as `answer` says; it records what it is sent. */
class TlsStandIn {
  readonly seen: { request: string; authorization?: string }[] = [];
  answer: (req: IncomingMessage, res: ServerResponse) => void = (_req, res) => void res.writeHead(200, { 'content-type': 'application/json' }).end('[]');
  /** The status line and body to refuse an exec upgrade with, instead of accepting it. */
  refuseUpgrade?: { status: string; body: unknown };
  url = '';
  private server?: Server;

  constructor(
    private readonly ca: KeyedCertificate,
    private readonly names: { ipAddresses?: string[]; dnsNames?: string[] },
  ) {}

  async start(): Promise<void> {
    const key = newPrivateKey();
    const cert = issueCertificate(this.ca, { publicKey: createPublicKey(key), commonName: 'berth-api', uses: ['server'], lifetimeMs: HOUR, ...this.names });
    this.server = createServer({ key, cert }, (req, res) => {
      this.record(req);
      this.answer(req, res);
    });
    this.server.on('upgrade', (req: IncomingMessage, socket: Socket) => {
      this.record(req);
      if (this.refuseUpgrade) {
        const body = JSON.stringify(this.refuseUpgrade.body);
        socket.end(`HTTP/1.1 ${this.refuseUpgrade.status}\r\nContent-Type: application/problem+json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
        return;
      }
      socket.write(`HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: ${EXEC_UPGRADE}\r\nBerth-Task: web.1.abc\r\n\r\n`);
      socket.end(encodeExecFrame(ExecFrameType.exit, JSON.stringify({ exitCode: 0 })));
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `https://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise((resolve) => this.server?.close(resolve));
  }

  private record(req: IncomingMessage): void {
    this.seen.push({ request: `${req.method} ${req.url}`, ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}) });
  }
}

const clusterCa = createCa({ commonName: 'berth test cluster' });
const otherCa = createCa({ commonName: 'someone else' });
const api = new TlsStandIn(clusterCa, { ipAddresses: ['127.0.0.1'] });
const misnamed = new TlsStandIn(clusterCa, { dnsNames: ['elsewhere.test'] });
let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'berth-auth-'));
  await Promise.all([api.start(), misnamed.start()]);
});
afterAll(async () => {
  await Promise.all([api.stop(), misnamed.stop()]);
  rmSync(dir, { recursive: true, force: true });
});
beforeEach(() => {
  api.seen.length = 0;
  delete api.refuseUpgrade;
  api.answer = (_req, res) => void res.writeHead(200, { 'content-type': 'application/json' }).end('[]');
});

/** A config file in the test's directory, mode 0600 unless told. */
function configFile(name: string, config: { server?: string; ca?: string; token?: string }, mode = 0o600): string {
  const path = join(dir, name);
  writeFileSync(path, formatAccessConfig(config), { mode });
  chmodSync(path, mode);
  return path;
}

const client = (over: Partial<ConstructorParameters<typeof BerthClient>[0]> = {}) =>
  new BerthClient({ server: api.url, ca: clusterCa.certPem, token: TOKEN, configFile: '/root/x/admin.yaml', ...over });

describe('BerthClient over https with a token', () => {
  it('trusts the CA it is given and sends the token with plain requests, both streams and the exec upgrade', async () => {
    api.answer = (req, res) => {
      if (req.url?.startsWith('/api/v1/events')) return void res.writeHead(200, { 'content-type': 'application/x-ndjson' }).end('');
      if (req.url?.includes('/logs')) return void res.writeHead(200, { 'content-type': 'text/plain' }).end('2026-03-01T12:00:00Z stdout hi\n');
      res.writeHead(200, { 'content-type': 'application/json' }).end('[]');
    };
    const c = client();
    expect(await c.listServices()).toEqual([]);
    const signal = new AbortController().signal;
    const lines: string[] = [];
    for await (const line of c.taskLogs('web.1.abc', { follow: false, signal })) lines.push(line);
    expect(lines).toEqual(['2026-03-01T12:00:00Z stdout hi']);
    for await (const _e of c.watchEvents({}, { signal })) expect.fail('no events were sent');
    const exec = await c.openExec('web.1', { command: ['true'], stdin: false, tty: false });
    exec.socket.destroy();
    expect(exec.taskId).toBe('web.1.abc');
    expect(api.seen).toEqual([
      { request: 'GET /api/v1/services', authorization: `Bearer ${TOKEN}` },
      { request: 'GET /api/v1/tasks/web.1.abc/logs?follow=false', authorization: `Bearer ${TOKEN}` },
      { request: 'GET /api/v1/events?watch=1', authorization: `Bearer ${TOKEN}` },
      { request: 'POST /api/v1/tasks/web.1/exec?command=true', authorization: `Bearer ${TOKEN}` },
    ]);
  });

  it('sends no Authorization header without a token', async () => {
    await client({ token: undefined }).listServices();
    expect(api.seen).toEqual([{ request: 'GET /api/v1/services' }]);
  });

  it('refuses a server whose certificate another CA issued, naming the config file the CA came from', async () => {
    const e = await client({ ca: otherCa.certPem }).listServices().catch((error: unknown) => error);
    expect(e).toBeInstanceOf(UntrustedServerError);
    expect((e as Error).message).toMatch(new RegExp(`^cannot trust the server at ${api.url}: its certificate is not issued by the CA in /root/x/admin\\.yaml \\([A-Z_]+\\); is that file for this cluster\\?$`));
    expect(api.seen).toEqual([]);
  });

  it('without a ca trusts only the system CAs, and says where the cluster CA goes', async () => {
    const e = await client({ ca: undefined }).listServices().catch((error: unknown) => error);
    expect(e).toBeInstanceOf(UntrustedServerError);
    expect((e as Error).message).toMatch(/its certificate is not issued by a CA this system trusts \([A-Z_]+\); put the cluster CA in \/root\/x\/admin\.yaml as "ca"/);
  });

  it('refuses a certificate that is not valid for the host name, on streams and exec too', async () => {
    const c = client({ server: misnamed.url });
    await expect(c.listServices()).rejects.toThrow(/^cannot trust the server at https:\/\/127\.0\.0\.1:\d+: .*127\.0\.0\.1.* \(a berth server started with --advertise 127\.0\.0\.1/);
    const logs = c.taskLogs('web.1', { follow: false, signal: new AbortController().signal });
    await expect(logs.next()).rejects.toBeInstanceOf(UntrustedServerError);
    await expect(c.openExec('web.1', { command: ['true'], stdin: false, tty: false })).rejects.toBeInstanceOf(UntrustedServerError);
  });

  it('says a refused token (401) was refused, naming the config file it came from', async () => {
    api.answer = (_req, res) =>
      void res
        .writeHead(401, { 'content-type': 'application/problem+json' })
        .end(JSON.stringify({ type: 'about:blank', title: 'Unauthenticated', status: 401, code: 'UNAUTHENTICATED', detail: 'token is unknown, expired or revoked' }));
    const e = await client().listServices().catch((error: unknown) => error);
    expect(e).toBeInstanceOf(ApiError);
    expect(e).toMatchObject({ code: 'UNAUTHENTICATED', status: 401, message: 'the server refused the token from /root/x/admin.yaml (token BERTHA1-abcdefghijkl is unknown, expired or revoked)' });
    api.refuseUpgrade = { status: '401 Unauthorized', body: { code: 'UNAUTHENTICATED', status: 401, title: 'Unauthenticated', detail: 'no such token' } };
    const exec = await client().openExec('web.1', { command: ['true'], stdin: false, tty: false }).catch((error: unknown) => error);
    expect(exec).toMatchObject({ code: 'UNAUTHENTICATED', message: expect.stringMatching(/^the server refused the token from \/root\/x\/admin\.yaml/) as unknown });
    const none = await client({ token: undefined }).listServices().catch((error: unknown) => error);
    expect((none as Error).message).toMatch(/^the server wants a token, and \/root\/x\/admin\.yaml has none/);
  });
});

describe('berth with a config file', () => {
  it('--config: server, ca and token from the file', async () => {
    const file = configFile('admin.yaml', { server: api.url, ca: clusterCa.certPem, token: TOKEN });
    expect(await berth('', ['--config', file, 'get', 'services'], { noServer: true })).toMatchObject({ code: 0, err: 'No services found.' });
    expect(api.seen).toEqual([{ request: 'GET /api/v1/services', authorization: `Bearer ${TOKEN}` }]);
  });

  it('BERTH_CONFIG names the file; --server overrides its server but ca and token still come from it', async () => {
    const file = configFile('ci.yaml', { server: 'https://127.0.0.1:1', ca: clusterCa.certPem, token: TOKEN });
    expect((await berth('', ['get', 'services'], { noServer: true, env: { configFromEnv: file } })).code).toBe(1); // port 1: nobody there
    expect(await berth(api.url, ['get', 'services'], { env: { configFromEnv: file } })).toMatchObject({ code: 0 });
    expect(await berth('', ['get', 'services'], { noServer: true, env: { configFromEnv: file, serverFromEnv: api.url } })).toMatchObject({ code: 0 });
    expect(api.seen).toEqual([
      { request: 'GET /api/v1/services', authorization: `Bearer ${TOKEN}` },
      { request: 'GET /api/v1/services', authorization: `Bearer ${TOKEN}` },
    ]);
  });

  it('--config wins over BERTH_CONFIG; a named file that does not exist is an error', async () => {
    const good = configFile('good.yaml', { server: api.url, ca: clusterCa.certPem, token: TOKEN });
    expect((await berth('', ['--config', good, 'get', 'services'], { noServer: true, env: { configFromEnv: join(dir, 'missing.yaml') } })).code).toBe(0);
    const r = await berth('', ['get', 'services'], { noServer: true, env: { configFromEnv: join(dir, 'missing.yaml') } });
    expect(r).toMatchObject({ code: 2, err: `error: BERTH_CONFIG ${join(dir, 'missing.yaml')}: no such file` });
  });

  it('refuses a config file others may read, before sending anything (exit 1)', async () => {
    const file = configFile('open.yaml', { server: api.url, ca: clusterCa.certPem, token: TOKEN }, 0o644);
    expect(await berth('', ['--config', file, 'get', 'services'], { noServer: true })).toEqual({
      code: 1,
      out: '',
      err: `error: ${file} is readable by others (mode 0644): chmod 600 ${file}`,
      raw: '',
    });
    expect(api.seen).toEqual([]);
  });

  it('names the file and the key of a config it cannot use (exit 2)', async () => {
    const path = join(dir, 'bad.yaml');
    writeFileSync(path, `server: ${api.url}\nnamespace: prod\n`, { mode: 0o600 });
    expect(await berth('', ['--config', path, 'get', 'services'], { noServer: true })).toMatchObject({
      code: 2,
      err: `error: ${path}: unknown key "namespace" (a berth config has server, ca, token)`,
    });
  });

  it('401: says the token from the config file was refused (exit 1); 403: the server’s detail (exit 1)', async () => {
    const file = configFile('viewer.yaml', { server: api.url, ca: clusterCa.certPem, token: TOKEN });
    api.answer = (_req, res) =>
      void res
        .writeHead(401, { 'content-type': 'application/problem+json' })
        .end(JSON.stringify({ type: 'about:blank', title: 'Unauthenticated', status: 401, code: 'UNAUTHENTICATED', detail: 'no such token' }));
    expect(await berth('', ['--config', file, 'get', 'services'], { noServer: true })).toMatchObject({
      code: 1,
      err: `error: the server refused the token from ${file} (token BERTHA1-abcdefghijkl is unknown, expired or revoked)`,
    });
    const detail = 'this token\'s role "viewer" may not do this: it needs "deployer"';
    api.answer = (_req, res) =>
      void res.writeHead(403, { 'content-type': 'application/problem+json' }).end(JSON.stringify({ type: 'about:blank', title: 'Forbidden', status: 403, code: 'FORBIDDEN', detail }));
    expect(await berth('', ['--config', file, 'scale', 'web=2'], { noServer: true })).toMatchObject({ code: 1, err: `error: ${detail}` });
    // A proxy's page instead of problem+json: the status alone still says which.
    api.answer = (_req, res) => void res.writeHead(403, { 'content-type': 'text/html' }).end('<html>nope</html>');
    expect(await berth('', ['--config', file, 'scale', 'web=2'], { noServer: true })).toMatchObject({ code: 1 });
  });

  it('says which CA it trusted when the server is not the cluster the file is for (exit 1)', async () => {
    const file = configFile('other.yaml', { server: api.url, ca: otherCa.certPem, token: TOKEN });
    const r = await berth('', ['--config', file, 'get', 'services'], { noServer: true });
    expect(r.code).toBe(1);
    expect(r.err).toMatch(new RegExp(`^error: cannot trust the server at ${api.url}: its certificate is not issued by the CA in ${file.replace(/[.]/g, '\\.')} `));
  });
});

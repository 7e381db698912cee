import { createPublicKey } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { createCa, issueCertificate, newPrivateKey } from '@berth/pki';
import { apiFetch, apiJson, apiStream, readAdminConfig, withToken, type ApiAccess } from '../../support/api';

/**
 * The tests' client of the berth API (test/support/api.ts) against a stand-in https server with a
 * certificate of its own CA for 127.0.0.1: it trusts that CA only, sends the bearer token, and
 * reads bodies whole or as they come. No berth here: this is the client alone.
 */
describe('test/support/api.ts: the https client of the API tests', () => {
  const ca = createCa({ commonName: 'api-client test CA' });
  const key = newPrivateKey();
  const cert = issueCertificate(ca, { publicKey: createPublicKey(key), commonName: 'api', uses: ['server'], ipAddresses: ['127.0.0.1'], lifetimeMs: 3_600_000 });
  const seen: { method: string; url: string; authorization?: string; body: string }[] = [];
  let server: Server;
  let access: ApiAccess;
  let dir = '';
  let closedStreams = 0;

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    let body = '';
    req.setEncoding('utf8').on('data', (d: string) => (body += d));
    req.on('end', () => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}), body });
      if (req.url === '/stream') {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.write('first\n');
        const timer = setInterval(() => res.write('more\n'), 50);
        res.on('close', () => {
          clearInterval(timer);
          closedStreams++;
        });
        return;
      }
      if (req.headers.authorization !== 'Bearer secret-token') {
        res.writeHead(401, { 'www-authenticate': 'Bearer realm="test"', 'content-type': 'application/problem+json' }).end(JSON.stringify({ code: 'UNAUTHENTICATED' }));
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json', 'x-two': ['a', 'b'] }).end(JSON.stringify({ method: req.method, url: req.url, body }));
    });
  };

  beforeAll(async () => {
    server = createServer({ key, cert }, handle);
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const address = server.address();
    if (typeof address !== 'object' || address === null) throw new Error('no address');
    access = { server: `https://127.0.0.1:${address.port}`, ca: ca.certPem, token: 'secret-token' };
    dir = await mkdtemp(join(tmpdir(), 'berth-api-client-'));
  });

  afterAll(async () => {
    server?.closeAllConnections();
    server?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('sends the bearer token and the body, and answers status, headers, text and JSON', async () => {
    const res = await apiFetch(access, '/api/v1/apply?dryRun=true', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"a":1}' });
    expect(res).toMatchObject({ status: 200, ok: true });
    expect(res.headers.get('Content-Type')).toBe('application/json');
    expect(res.headers.get('x-two')).toBe('a, b');
    expect(await res.json()).toEqual({ method: 'POST', url: '/api/v1/apply?dryRun=true', body: '{"a":1}' });
    expect(seen.at(-1)).toMatchObject({ authorization: 'Bearer secret-token' });
    expect(await apiJson(access, '/x')).toMatchObject({ method: 'GET', url: '/x' });
  });

  it('sends no token when the access has none or the request says null, and reports the 401', async () => {
    const res = await apiFetch(withToken(access, undefined), '/healthz');
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect(seen.at(-1)?.authorization).toBeUndefined();
    expect((await apiFetch(access, '/healthz', { token: null })).status).toBe(401);
    expect(seen.at(-1)?.authorization).toBeUndefined();
    expect((await apiFetch(access, '/healthz', { token: 'other' })).status).toBe(401);
    expect(seen.at(-1)?.authorization).toBe('Bearer other');
    await expect(apiJson(withToken(access, undefined), '/healthz')).rejects.toThrow('GET /healthz: 401');
  });

  it('trusts the given CA only, and refuses plain http before sending anything', async () => {
    const other = createCa({ commonName: 'another CA' });
    const refused = await apiFetch({ ...access, ca: other.certPem }, '/x').then(
      () => 'answered',
      (e: NodeJS.ErrnoException) => e.code ?? e.message,
    );
    expect(refused).not.toBe('answered');
    const count = seen.length;
    await expect(apiFetch(access, access.server.replace('https:', 'http:') + '/x')).rejects.toThrow('https only');
    await expect(apiFetch({ ...access, server: access.server.replace('https:', 'http:') }, '/x')).rejects.toThrow('https only');
    expect(seen.length).toBe(count);
  });

  it('reads a body as it comes, and close() ends the request', async () => {
    const stream = await apiStream(access, '/stream');
    expect(stream.status).toBe(200);
    let text = '';
    while (!text.includes('more')) text += (await stream.read()) ?? '';
    expect(text.startsWith('first\n')).toBe(true);
    stream.close();
    expect(await stream.read()).toBeUndefined();
    await expect.poll(() => closedStreams, { timeout: 5_000 }).toBe(1);
  });

  it('reads admin.yaml, and names the file when a field is missing', async () => {
    const good = join(dir, 'admin.yaml');
    await writeFile(good, stringify({ server: access.server, ca: ca.certPem, token: 'BERTHA1-abc.def' }), { mode: 0o600 });
    expect(await readAdminConfig(good)).toEqual({ server: access.server, ca: ca.certPem, token: 'BERTHA1-abc.def' });
    const bad = join(dir, 'bad.yaml');
    await writeFile(bad, stringify({ server: access.server, ca: ca.certPem }));
    await expect(readAdminConfig(bad)).rejects.toThrow(`${bad}: no token`);
    const plain = join(dir, 'plain.yaml');
    await writeFile(plain, stringify({ server: 'http://127.0.0.1:7070', ca: ca.certPem, token: 't' }));
    await expect(readAdminConfig(plain)).rejects.toThrow('is not an https URL');
  });
});

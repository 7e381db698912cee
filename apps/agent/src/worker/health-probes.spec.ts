import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTcpServer, type AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { HealthCheck } from '@berth/core';
import type { ExecOptions } from '@berth/runtime';
import { httpProbe, probeFor, tcpProbe } from './health-probes';

const HOST = '127.0.0.1';
const servers: (Server | ReturnType<typeof createTcpServer>)[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

async function listen<S extends Server | ReturnType<typeof createTcpServer>>(server: S): Promise<{ server: S; port: number }> {
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, HOST, r));
  return { server, port: (server.address() as AddressInfo).port };
}

/** An http server answering every request with `handle`; `requests` lists the paths asked for. */
async function httpServer(handle: (req: IncomingMessage, res: ServerResponse) => void) {
  const requests: string[] = [];
  const { server, port } = await listen(
    createHttpServer((req, res) => {
      requests.push(req.url ?? '');
      handle(req, res);
    }),
  );
  return { server, port, requests };
}

/** A port nothing listens on: one that was just free. */
async function closedPort(): Promise<number> {
  const server = createTcpServer();
  await new Promise<void>((r) => server.listen(0, HOST, r));
  const { port } = server.address() as AddressInfo;
  await new Promise((r) => server.close(r));
  return port;
}

const connections = (server: Server | ReturnType<typeof createTcpServer>): Promise<number> =>
  new Promise((resolve, reject) => server.getConnections((e, n) => (e ? reject(e) : resolve(n))));

/** The server side of every connection the probe opened is gone: the probe closed its socket. */
async function noConnectionsLeft(server: Server | ReturnType<typeof createTcpServer>): Promise<void> {
  for (let i = 0; i < 200 && (await connections(server)) > 0; i++) await new Promise((r) => setTimeout(r, 5));
  expect(await connections(server)).toBe(0);
}

const never = new AbortController().signal;

describe('tcp probe', () => {
  it('passes once a connection opens, and closes it', async () => {
    const { server, port } = await listen(createTcpServer(() => undefined));
    expect(await tcpProbe({ host: HOST, port, timeoutMs: 1000 }, never)).toEqual({ passed: true });
    await noConnectionsLeft(server);
  });

  it('fails with the connect error when nothing listens', async () => {
    const port = await closedPort();
    expect(await tcpProbe({ host: HOST, port, timeoutMs: 1000 }, never)).toEqual({ passed: false, reason: `connect ECONNREFUSED ${HOST}:${port}` });
  });
});

describe('http probe', () => {
  it('passes on 200 and reads the path asked for', async () => {
    const { server, port, requests } = await httpServer((_, res) => res.end('ok'));
    expect(await httpProbe({ host: HOST, port, path: '/healthz?full=1', timeoutMs: 1000 }, never)).toEqual({ passed: true });
    expect(requests).toEqual(['/healthz?full=1']);
    await noConnectionsLeft(server);
  });

  it('fails on a status of 400 and above, saying which and from where', async () => {
    const { server, port } = await httpServer((_, res) => {
      res.statusCode = 503;
      res.end('down');
    });
    expect(await httpProbe({ host: HOST, port, path: '/healthz', timeoutMs: 1000 }, never)).toEqual({ passed: false, reason: `HTTP 503 from http://${HOST}:${port}/healthz` });
    await noConnectionsLeft(server);
  });

  it('passes on a redirect without following it', async () => {
    const { port, requests } = await httpServer((_, res) => {
      res.writeHead(302, { location: '/elsewhere' });
      res.end();
    });
    expect(await httpProbe({ host: HOST, port, path: '/', timeoutMs: 1000 }, never)).toEqual({ passed: true });
    expect(requests).toEqual(['/']);
  });

  it('fails with the connect error when nothing listens', async () => {
    const port = await closedPort();
    expect(await httpProbe({ host: HOST, port, path: '/', timeoutMs: 1000 }, never)).toEqual({ passed: false, reason: `connect ECONNREFUSED ${HOST}:${port}` });
  });

  it('fails after the timeout when no answer comes, and closes the connection', async () => {
    const { server, port } = await httpServer(() => undefined);
    expect(await httpProbe({ host: HOST, port, path: '/', timeoutMs: 100 }, never)).toEqual({ passed: false, reason: 'timed out after 100ms' });
    await noConnectionsLeft(server);
  });

  it('reads an endless body only so far, then closes the connection with the status as the verdict', async () => {
    let sent = 0;
    const { server, port } = await httpServer((_, res) => {
      const chunk = Buffer.alloc(16 * 1024, 'x');
      const more = (): void => {
        while (!res.destroyed && res.write(chunk)) sent += chunk.length;
      };
      res.on('drain', more);
      more();
    });
    expect(await httpProbe({ host: HOST, port, path: '/', timeoutMs: 5000 }, never)).toEqual({ passed: true });
    await noConnectionsLeft(server);
    expect(sent).toBeLessThan(16 * 1024 * 1024);
  });

  it('rejects when aborted, and closes the connection', async () => {
    const { server, port } = await httpServer(() => undefined);
    const ctl = new AbortController();
    const run = httpProbe({ host: HOST, port, path: '/', timeoutMs: 10_000 }, ctl.signal);
    await new Promise((r) => setTimeout(r, 50));
    ctl.abort();
    await expect(run).rejects.toThrow();
    await noConnectionsLeft(server);
  });
});

describe('probeFor', () => {
  const timing = { intervalMs: 1000, timeoutMs: 500, retries: 3, startPeriodMs: 0 };
  const noExec = async (): Promise<never> => {
    throw new Error('a tcp or http check runs nothing inside the task');
  };

  it('runs an exec check inside the task, bounded by its timeout', async () => {
    const calls: { command: readonly string[]; timeoutMs: number }[] = [];
    const exec = async (command: readonly string[], o: ExecOptions) => {
      calls.push({ command, timeoutMs: o.timeoutMs });
      return { exitCode: 1, timedOut: false, output: 'not ready\n' };
    };
    const probe = probeFor({ exec: ['check', '--ready'], ...timing }, { exec, ip: undefined });
    expect(await probe(never)).toEqual({ passed: false, reason: 'not ready' });
    expect(calls).toEqual([{ command: ['check', '--ready'], timeoutMs: 500 }]);
  });

  it('points tcp and http checks at the task address', async () => {
    const { port, requests } = await httpServer((_, res) => res.end());
    const checks: HealthCheck[] = [{ tcp: { port }, ...timing }, { http: { port, path: '/ready' }, ...timing }];
    for (const check of checks) expect(await probeFor(check, { exec: noExec, ip: HOST })(never)).toEqual({ passed: true });
    expect(requests).toEqual(['/ready']);
  });

  it('fails a tcp or http check of a task without an address', async () => {
    expect(await probeFor({ http: { port: 80, path: '/' }, ...timing }, { exec: noExec, ip: undefined })(never)).toEqual({
      passed: false,
      reason: 'the task has no network address, so an http check cannot reach it',
    });
    expect(await probeFor({ tcp: { port: 80 }, ...timing }, { exec: noExec, ip: undefined })(never)).toMatchObject({ passed: false, reason: expect.stringMatching(/no network address, so a tcp check/) });
  });
});

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiError, UnreachableError } from '../errors';
import { BerthClient } from './http-client';

describe('BerthClient', () => {
  let server: Server;
  let url: string;
  const held: (() => void)[] = [];

  beforeAll(async () => {
    server = createServer((req, res) => {
      if (req.url === '/api/v1/services') {
        // Never answers until the test ends: the client's deadline has to end the request.
        held.push(() => res.end('[]'));
        return;
      }
      if (req.url === '/api/v1/tasks/web.1.a/logs?follow=true') {
        // A followed log may stay quiet for longer than the client's request deadline.
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.write('2026-03-01T12:00:00Z stdout first\n');
        setTimeout(() => res.end('2026-03-01T12:00:01Z stdout after a quiet spell\n'), 600);
        return;
      }
      if (req.url === '/api/v1/nodes') {
        res.writeHead(200, { 'content-type': 'text/html' }).end('<html>proxy page</html>');
        return;
      }
      res.writeHead(404, { 'content-type': 'application/problem+json' });
      res.end(JSON.stringify({ code: 'NOT_FOUND', title: 'Not found', detail: `task "x" not found` }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    for (const release of held) release();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it('gives up on a server that does not answer within the deadline', async () => {
    const err = await new BerthClient({ server: url, timeoutMs: 200 }).listServices().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnreachableError);
    expect((err as UnreachableError).reason).toBe('timed out');
  });

  it('turns a problem answer into an ApiError with its code', async () => {
    const err = await new BerthClient({ server: url }).getTask('x').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({ code: 'NOT_FOUND', status: 404, message: 'task "x" not found' });
  });

  it('keeps a log stream open past the request deadline, which covers only the headers', async () => {
    const lines: string[] = [];
    for await (const line of new BerthClient({ server: url, timeoutMs: 200 }).taskLogs('web.1.a', { follow: true, signal: new AbortController().signal })) lines.push(line);
    expect(lines).toEqual(['2026-03-01T12:00:00Z stdout first', '2026-03-01T12:00:01Z stdout after a quiet spell']);
  });

  it('refuses a 200 answer that is not JSON', async () => {
    await expect(new BerthClient({ server: url }).listNodes()).rejects.toThrow('the server answered GET /api/v1/nodes with a body that is not JSON');
  });
});

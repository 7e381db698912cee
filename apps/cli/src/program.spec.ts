import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CliEnvironment } from './environment';
import { runCli } from './program';

const env: CliEnvironment = Object.freeze({
  configPath: '/nonexistent/.berth/config.json',
  home: '/nonexistent',
  isRoot: false,
  hostname: 'box',
  version: '9.8.7',
});

interface Run {
  code: number;
  out: string;
  err: string;
}

async function berth(args: string[], server: string, stdin = ''): Promise<Run> {
  const out: string[] = [];
  const err: string[] = [];
  const io = { out: (t: string) => out.push(t), err: (t: string) => err.push(t), readStdin: async () => stdin, now: () => new Date() };
  const code = await runCli(['node', 'berth', '--server', server, ...args], env, io);
  return { code, out: out.join('\n'), err: err.join('\n') };
}

// A stand-in for the control plane that records what it is asked and answers from a table.
let requests: string[] = [];
let api: Server;
let url: string;
const answers: Record<string, [number, unknown]> = {
  'PUT /api/v1/services/web/scale': [200, { metadata: { name: 'web' } }],
  'DELETE /api/v1/services/gone': [404, { code: 'NOT_FOUND', title: 'Not found', detail: 'service "gone" not found' }],
  'DELETE /api/v1/services/web': [200, { metadata: { name: 'web' } }],
  'GET /api/v1/services': [200, []],
  'POST /api/v1/apply?dryRun=true': [200, { items: [{ name: 'web', action: 'configured', service: {} }] }],
  'POST /api/v1/diff': [200, { items: [{ name: 'web', action: 'configured', diff: '@@ -1 +1 @@\n-  replicas: 3\n+  replicas: 4\n' }] }],
};
let bodies: unknown[] = [];
const WEB = 'apiVersion: berth/v1\nkind: Service\nmetadata: { name: web }\nspec:\n  replicas: 4\n  template: { image: "busybox:1" }\n';

beforeAll(async () => {
  api = createServer((req, res) => {
    const key = `${req.method} ${req.url}`;
    requests.push(key);
    let text = '';
    req.on('data', (d: Buffer) => (text += d.toString()));
    req.on('end', () => {
      if (text) bodies.push(JSON.parse(text));
      const [status, body] = answers[key] ?? [500, { code: 'INTERNAL', detail: `unexpected ${key}` }];
      res.writeHead(status, { 'content-type': status >= 400 ? 'application/problem+json' : 'application/json' });
      res.end(JSON.stringify(body));
    });
  });
  await new Promise<void>((resolve) => api.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(api.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((resolve) => api.close(resolve));
});

describe('berth command line', () => {
  it('prints the version', async () => {
    const r = await berth(['--version'], url);
    expect(r).toMatchObject({ code: 0, out: '9.8.7' });
  });

  it.each([
    [['frobnicate'], /unknown command 'frobnicate'/],
    [['get'], /missing required argument 'kind'/],
    [['get', 'services', '--bogus'], /unknown option '--bogus'/],
    [['get', 'services', '-o', 'xml'], /Allowed choices are table, wide, json, yaml/],
    [['apply'], /required option '-f, --filename <path>' not specified/],
    [['get', 'pods'], /unknown resource type "pods"/],
    [['get', 'svc', '--service', 'web'], /--service only filters a list of tasks/],
    [['delete'], /berth delete service NAME, or berth delete -f FILE/],
    [['delete', 'node', 'n1'], /only services can be deleted/],
    [['scale', 'web=lots'], /replicas must be an integer between 0 and 10000 \(got "lots"\)/],
    [['server', '--api', 'nonsense'], /--api must be HOST:PORT/],
    [['apply', '-f', '/nonexistent/web.yaml'], /cannot read \/nonexistent\/web.yaml: no such file or directory/],
  ])('%j is a usage error: exit 2, nothing sent', async (args, message) => {
    requests = [];
    const r = await berth(args, url);
    expect(r.err).toMatch(message);
    expect(r.code).toBe(2);
    expect(requests).toEqual([]);
  });

  it('apply --dry-run sends the manifest text with its file name and says nothing was written', async () => {
    requests = [];
    bodies = [];
    const r = await berth(['apply', '--dry-run', '-f', '-'], url, WEB);
    expect(r).toEqual({ code: 0, out: 'service/web configured (dry run)', err: '' });
    expect(requests).toEqual(['POST /api/v1/apply?dryRun=true']);
    expect(bodies).toEqual([{ sources: [{ file: '<stdin>', text: WEB }] }]);
  });

  it('diff prints the server diff under a live/manifest header; --exit-code makes a difference exit 1', async () => {
    expect(await berth(['diff', '-f', '-'], url, WEB)).toEqual({
      code: 0,
      out: '--- web (live)\n+++ web (manifest)\n@@ -1 +1 @@\n-  replicas: 3\n+  replicas: 4',
      err: '',
    });
    expect((await berth(['diff', '--exit-code', '-f', '-'], url, WEB)).code).toBe(1);
  });

  it('an invalid manifest is reported locally with file:line:col and never sent', async () => {
    requests = [];
    const r = await berth(['apply', '-f', '-'], url, WEB.replace('replicas: 4', 'replicas: -4'));
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/^<stdin>:5:13: spec\.replicas /m);
    expect(requests).toEqual([]);
  });

  it('scales a service and says so', async () => {
    requests = [];
    const r = await berth(['scale', 'web=5'], url);
    expect(r).toEqual({ code: 0, out: 'service/web scaled to 5', err: '' });
    expect(requests).toEqual(['PUT /api/v1/services/web/scale']);
  });

  it('reports a missing service with exit 1, or nothing with --ignore-not-found', async () => {
    expect(await berth(['delete', 'service', 'gone'], url)).toEqual({ code: 1, out: '', err: 'error: service "gone" not found' });
    expect(await berth(['delete', 'svc', 'gone', '--ignore-not-found'], url)).toEqual({ code: 0, out: '', err: '' });
  });

  it('delete -f goes on past a missing service and exits 1 at the end', async () => {
    requests = [];
    const stdin = ['gone', 'web'].map((n) => `apiVersion: berth/v1\nkind: Service\nmetadata: { name: ${n} }\nspec:\n  template: { image: "busybox:1" }\n`).join('---\n');
    const r = await berth(['delete', '-f', '-'], url, stdin);
    expect(r).toEqual({ code: 1, out: 'service/web deleted', err: 'error: service "gone" not found' });
    expect(requests).toEqual(['DELETE /api/v1/services/gone', 'DELETE /api/v1/services/web']);
  });

  it('says so on stderr when a list is empty, and prints [] as JSON', async () => {
    expect(await berth(['get', 'services'], url)).toEqual({ code: 0, out: '', err: 'No services found.' });
    expect(await berth(['get', 'services', '-o', 'json'], url)).toEqual({ code: 0, out: '[]', err: '' });
  });

  it('explains an unreachable server with exit 1', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const r = await berth(['get', 'services'], `http://127.0.0.1:${port}`);
    expect(r.code).toBe(1);
    expect(r.err).toBe(`error: cannot reach the berth control plane at http://127.0.0.1:${port} (is "berth up" running?)`);
  });
});

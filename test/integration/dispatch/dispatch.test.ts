import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startControlPlane, type RunningControlPlane } from '@berth/control-plane';
import { EmbeddedEtcd } from '@berth/store';
import { requireTools } from '../../support/prereq';
import type { RunningAgent } from '@berth/agent';
import { HollowDriver } from '@berth/runtime';
import { startHollowAgent } from '../../support/hollow-agent';
import { apiFetch, apiJson, apiStream } from '../../support/api';

const ready = requireTools(['etcd', 'promtool']);

/**
 * `promtool check metrics` on a scrape: its lint findings about berth's own families (prom-client's
 * process_/nodejs_ defaults are not ours to rename).
 */
async function promtoolCheckMetrics(text: string): Promise<{ problems: string[]; output: string }> {
  const child = spawn('promtool', ['check', 'metrics'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  child.stdin.end(text);
  await new Promise((resolve) => child.on('close', resolve));
  const problems = output.split('\n').filter((line) => /^berth_|error/i.test(line.trim()));
  return { problems, output };
}

const WEB = `apiVersion: berth/v1
kind: Service
metadata:
  name: web
spec:
  replicas: 3
  template:
    image: 127.0.0.1:5000/busybox:1
    command: ["hollow", "run", "--print", "out:hello", "--print", "err:second line"]
`;

interface TaskJson {
  metadata: { name: string; slot: number };
  spec: { desiredState: string; node?: string; replaces?: string };
  status: { state: string; pid?: number; node?: string };
}
interface NodeJson {
  metadata: { name: string; labels: Record<string, string> };
  status: { state: string; drivers: string[] };
}

/** Generous: shared CI machines; this waits for convergence, it never measures speed. */
const eventually = <T>(check: () => Promise<T>, timeout = 60_000): Promise<T> => vi.waitFor(check, { timeout, interval: 200 });

/** GET `path` as the control plane's admin (https, its CA, the admin token). */
const get = <T>(cp: RunningControlPlane, path: string): Promise<T> => apiJson<T>(cp.admin, path);
/** The control plane's /metrics, read with its admin token. */
const scrapeMetrics = async (cp: RunningControlPlane): Promise<string> => (await apiFetch(cp.admin, '/metrics')).text();

describe.runIf(ready)('control plane runs tasks on an agent over the dispatcher', () => {
  let dir = '';
  let etcd: EmbeddedEtcd | undefined;
  let cp: RunningControlPlane | undefined;
  let agent: RunningAgent | undefined;
  const driver = new HollowDriver();

  const startCp = (id: string, nodeGraceMs: number): Promise<RunningControlPlane> =>
    startControlPlane({
      // One data dir for both replicas: it holds the cluster CA, which the second needs too.
      dataDir: join(dir, 'cp'),
      api: { host: '127.0.0.1', port: 0 },
      grpc: { host: '127.0.0.1', port: 0 },
      etcdEndpoints: etcd!.endpoints,
      etcdTls: etcd!.clientTls,
      id,
      leaderTtlSeconds: 2,
      nodeGraceMs,
    });
  const startAgent = (): Promise<RunningAgent> =>
    startHollowAgent({ server: cp!.grpcAddress, name: 'n1', dataDir: join(dir, 'agent'), driver, labels: { zone: 'a' }, token: async () => (await cp!.createToken({ role: 'join' })).token });

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-dispatch-'));
    etcd = await EmbeddedEtcd.start({ dataDir: join(dir, 'etcd') });
    cp = await startCp('cp-1', 1_000);
    agent = await startAgent();
  });

  afterAll(async () => {
    await agent?.stop();
    await cp?.stop();
    await etcd?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('serves the dispatcher on the port it bound, and the API over https only', () => {
    expect(cp!.grpcAddress).toMatch(/^127\.0\.0\.1:[1-9]\d*$/);
    expect(cp!.apiUrl).toMatch(/^https:\/\/127\.0\.0\.1:[1-9]\d*$/);
    expect(cp!.admin.server).toBe(cp!.apiUrl);
  });

  it('runs an applied service on the agent and shows the tasks running with their pids', async () => {
    const res = await apiFetch(cp!.admin, '/api/v1/apply', { method: 'POST', headers: { 'content-type': 'application/yaml' }, body: WEB });
    expect(res.status).toBe(200);
    const tasks = await eventually(async () => {
      const ts = await get<TaskJson[]>(cp!, '/api/v1/tasks?service=web');
      expect(ts.map((t) => t.status.state)).toEqual(['running', 'running', 'running']);
      return ts;
    });
    expect(tasks.map((t) => t.metadata.slot).sort()).toEqual([1, 2, 3]);
    for (const t of tasks) expect(t).toMatchObject({ spec: { node: 'n1' }, status: { node: 'n1', pid: expect.any(Number) } });
    expect(await get<NodeJson>(cp!, '/api/v1/nodes/n1')).toMatchObject({ metadata: { labels: { zone: 'a' } }, status: { state: 'ready', drivers: ['hollow'] } });
    expect(driver.host.starts).toBe(3);
    const metrics = await scrapeMetrics(cp!);
    expect(metrics).toMatch(/^berth_agent_sessions 1$/m);
    expect(metrics).toMatch(/^berth_scheduler_placements_total\{result="placed"\} 3$/m);
    await eventually(async () => expect(await scrapeMetrics(cp!)).toMatch(/^berth_tasks\{state="running"\} 3$/m));
  });

  it('lists itself for Prometheus at /sd, and serves metrics that promtool accepts', async () => {
    const groups = await get<{ targets: string[]; labels: Record<string, string> }[]>(cp!, '/sd');
    expect(groups).toContainEqual({ targets: [new URL(cp!.apiUrl).host], labels: expect.objectContaining({ __scheme__: 'https', __meta_berth_role: 'control-plane', __meta_berth_member: 'cp-1' }) });
    // The hollow agent here exports no metrics: it is no target.
    expect(groups.filter((g) => g.labels.__meta_berth_role === 'agent')).toEqual([]);
    const text = await scrapeMetrics(cp!);
    expect(text).toMatch(/^berth_node_info\{node="n1",address="[^"]+",version="[^"]+"\} 1$/m);
    const lint = await promtoolCheckMetrics(text);
    expect(lint.problems, lint.output).toEqual([]);
  });

  it('relays a task log from the node as text lines', async () => {
    const [task] = await get<TaskJson[]>(cp!, '/api/v1/tasks?service=web');
    const res = await apiFetch(cp!.admin, `/api/v1/tasks/${task!.metadata.name}/logs?tail=10`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/plain');
    expect(await res.text()).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]+Z stdout hello\n\S+ stderr second line\n$/);
  });

  it('follows a task log until the reader goes away, then cancels it on the node', async () => {
    const [task] = await get<TaskJson[]>(cp!, '/api/v1/tasks?service=web');
    const res = await apiStream(cp!.admin, `/api/v1/tasks/${task!.metadata.name}/logs?follow=true`);
    expect(res.status).toBe(200);
    let text = '';
    while (!text.includes('second line')) {
      const chunk = await res.read();
      if (chunk === undefined) throw new Error(`the log ended before "second line":\n${text}`);
      text += chunk;
    }
    expect(driver.host.openFollows).toBe(1);
    res.close();
    await eventually(async () => expect(driver.host.openFollows).toBe(0));
  });

  it('marks the node down once its agent is gone, and refuses its logs with 503', async () => {
    await agent!.stop();
    agent = undefined;
    await eventually(async () => expect((await get<NodeJson>(cp!, '/api/v1/nodes/n1')).status.state).toBe('down'));
    await eventually(async () => expect(await scrapeMetrics(cp!)).toMatch(/^berth_node_down_total 1$/m));
    const task = (await get<TaskJson[]>(cp!, '/api/v1/tasks?service=web')).find((t) => t.spec.node === 'n1');
    const res = await apiFetch(cp!.admin, `/api/v1/tasks/${task!.metadata.name}/logs`);
    expect(res.status).toBe(503);
    expect(((await res.json()) as { detail: string }).detail).toBe('node n1 is not connected to any control-plane replica');
  });

  it('after a control-plane restart touches no task during the grace, and takes the agent back with its tasks', async () => {
    const before = await get<TaskJson[]>(cp!, '/api/v1/tasks?service=web');
    // The node went down with no other node to take its tasks: each has a replacement waiting.
    const originals = before.filter((t) => t.spec.replaces === undefined);
    expect(originals).toHaveLength(3);
    await cp!.stop();
    cp = await startCp('cp-2', 60_000);
    // The store still says what the last leader recorded; the new leader acts on nothing of it yet.
    expect((await get<NodeJson>(cp, '/api/v1/nodes/n1')).status.state).toBe('down');
    // Give the new leader time to act on its (wrong) view if it were going to.
    await eventually(async () => expect(await scrapeMetrics(cp!)).toMatch(/^berth_leader 1$/m));
    const during = await get<TaskJson[]>(cp, '/api/v1/tasks?service=web');
    // The stopped replica withdrew from service discovery; the new one is there.
    const members = (await get<{ labels: Record<string, string> }[]>(cp, '/sd')).map((g) => g.labels.__meta_berth_member).filter(Boolean);
    expect(members).toEqual(['cp-2']);
    expect(during.map((t) => t.metadata.name).sort()).toEqual(before.map((t) => t.metadata.name).sort());
    expect(during.every((t) => t.spec.desiredState === 'running')).toBe(true);

    agent = await startAgent();
    await eventually(async () => expect((await get<NodeJson>(cp!, '/api/v1/nodes/n1')).status.state).toBe('ready'));
    const after = await eventually(async () => {
      const ts = await get<TaskJson[]>(cp!, '/api/v1/tasks?service=web');
      expect(ts.map((t) => t.status.state)).toEqual(['running', 'running', 'running']);
      return ts;
    });
    // The node came back before anything replaced its tasks: they are kept, the replacements go.
    expect(after.map((t) => t.metadata.name).sort()).toEqual(originals.map((t) => t.metadata.name).sort());
    expect(driver.host.starts).toBe(3); // re-adopted, never started again
  });
});

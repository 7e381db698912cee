import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { afterEach, describe, expect, it } from 'vitest';
import type { NodeInfo } from '@berth/core';
import { InMemoryStore } from '@berth/store/testing';
import { createHttpApp } from '../http/http-app';
import { ControlPlaneMetrics } from '../observability/metrics';
import { nodeFixture } from '../testing/fixtures';
import { parsePromText } from './prom-text';
import { computeTop, nodeUsage, readTopFilter, type ScrapeFetch, TopService } from './top.service';

const MiB = 1024 ** 2;

/** An agent's /metrics as the exporter writes it: one task per entry, then the node gauges. */
function metrics(node: string, tasks: readonly { id: string; cpu: number; memory?: number; limit?: number; quota?: number }[], extra = ''): string {
  const lines = ['# HELP container_cpu_usage_seconds_total CPU time the task consumed, in seconds.', '# TYPE container_cpu_usage_seconds_total counter'];
  for (const t of tasks) {
    const [service, slot] = t.id.split('.');
    const labels = `{node="${node}",service="${service}",task="${t.id}",slot="${slot}"}`;
    lines.push(`container_cpu_usage_seconds_total${labels} ${t.cpu}`);
    lines.push(`container_memory_working_set_bytes${labels} ${t.memory ?? 10 * MiB}`);
    lines.push(`container_spec_memory_limit_bytes${labels} ${t.limit ?? 0}`);
    if (t.quota !== undefined) lines.push(`container_spec_cpu_quota${labels} ${t.quota}`);
  }
  lines.push(
    `berth_node_capacity_cpu_cores{node="${node}"} 4`,
    `berth_node_capacity_memory_bytes{node="${node}"} ${8 * 1024 * MiB}`,
    `berth_node_allocated_cpu_cores{node="${node}"} 1.5`,
    `berth_node_allocated_memory_bytes{node="${node}"} ${512 * MiB}`,
    'process_cpu_seconds_total 3.2',
  );
  return `${lines.join('\n')}\n${extra}`;
}

const scrape = (text: string, atMs: number) => ({ samples: parsePromText(text), atMs });
const node = (name: string, over: Partial<NodeInfo> = {}): NodeInfo => ({ ...nodeFixture(name), metricsAddress: `${name}.local:9101`, ...over });

describe('nodeUsage (two scrapes → figures)', () => {
  it('CPU is the counter’s growth over the time between the scrapes, as a percent of one core', () => {
    const first = scrape(metrics('n1', [{ id: 'web.1.a', cpu: 10 }, { id: 'web.2.b', cpu: 20 }]), 5_000);
    const second = scrape(metrics('n1', [{ id: 'web.1.a', cpu: 10.25 }, { id: 'web.2.b', cpu: 22 }]), 6_000);
    const { node: n, tasks } = nodeUsage(node('n1'), first, second);
    expect(tasks.map((t) => [t.task, t.cpuPercent])).toEqual([
      ['web.1.a', 25],
      ['web.2.b', 200],
    ]);
    expect(n).toEqual({
      node: 'n1',
      cpuPercent: 225,
      memoryBytes: 20 * MiB,
      capacity: { cpuCores: 4, memoryBytes: 8 * 1024 * MiB },
      allocated: { cpuCores: 1.5, memoryBytes: 512 * MiB },
      tasks: 2,
    });
  });

  it('measures over the actual interval, not the nominal one', () => {
    const { tasks } = nodeUsage(node('n1'), scrape(metrics('n1', [{ id: 'web.1.a', cpu: 1 }]), 0), scrape(metrics('n1', [{ id: 'web.1.a', cpu: 2 }]), 2_000));
    expect(tasks[0]!.cpuPercent).toBe(50);
  });

  it('limits: a memory limit of 0 and no CPU quota are unlimited (null); a quota is cores', () => {
    const text = metrics('n1', [
      { id: 'web.1.a', cpu: 1 },
      { id: 'web.2.b', cpu: 1, limit: 64 * MiB, quota: 50_000 },
      { id: 'web.3.c', cpu: 1, quota: 200_000 },
    ]);
    const { tasks } = nodeUsage(node('n1'), scrape(text, 0), scrape(text, 1000));
    expect(tasks.map((t) => [t.memoryLimitBytes, t.cpuLimitCores])).toEqual([
      [null, null],
      [64 * MiB, 0.5],
      [null, 2],
    ]);
  });

  it('a task new in the second scrape has no CPU figure; one gone by then is left out; a counter that went back has none', () => {
    const first = scrape(metrics('n1', [{ id: 'web.1.a', cpu: 5 }, { id: 'web.2.b', cpu: 9 }]), 0);
    const second = scrape(metrics('n1', [{ id: 'web.1.a', cpu: 0.1 }, { id: 'web.3.c', cpu: 4 }]), 1000);
    const { node: n, tasks } = nodeUsage(node('n1'), first, second);
    expect(tasks.map((t) => [t.task, t.cpuPercent])).toEqual([
      ['web.1.a', null],
      ['web.3.c', null],
    ]);
    expect(n).toMatchObject({ cpuPercent: 0, tasks: 2 });
  });

  it('without the node gauges, the capacity is the one the agent registered with and nothing is allocated', () => {
    const text = 'container_cpu_usage_seconds_total{node="n1",service="web",task="web.1.a",slot="1"} 1\n';
    const { node: n } = nodeUsage(node('n1'), scrape(text, 0), scrape(text, 1000));
    expect(n).toMatchObject({ capacity: { cpuCores: 2, memoryBytes: 2 * 1024 * MiB }, allocated: { cpuCores: 0, memoryBytes: 0 }, memoryBytes: 0 });
  });
});

describe('computeTop', () => {
  it('nodes by name, every node’s tasks by service and slot, unreadable nodes as errors', () => {
    const n2 = metrics('n2', [{ id: 'web.1.a', cpu: 0 }, { id: 'api.2.x', cpu: 0 }]);
    const n1 = metrics('n1', [{ id: 'web.2.b', cpu: 0 }, { id: 'api.1.y', cpu: 0 }]);
    const result = computeTop([
      { node: node('n3'), error: 'http://n3.local:9101/metrics: ECONNREFUSED' },
      { node: node('n2'), first: scrape(n2, 0), second: scrape(n2, 1000) },
      { node: node('n1'), first: scrape(n1, 0), second: scrape(n1, 1000) },
    ]);
    expect(result.nodes.map((n) => n.node)).toEqual(['n1', 'n2']);
    expect(result.tasks.map((t) => `${t.task}@${t.node}`)).toEqual(['api.1.y@n1', 'api.2.x@n2', 'web.1.a@n2', 'web.2.b@n1']);
    expect(result.errors).toEqual([{ node: 'n3', message: 'http://n3.local:9101/metrics: ECONNREFUSED' }]);
  });
});

describe('readTopFilter', () => {
  it('takes service and node once each; empty means no filter', () => {
    expect(readTopFilter({ service: 'web', node: '' })).toEqual({ service: 'web' });
    expect(() => readTopFilter({ node: ['n1', 'n2'] })).toThrow('must be given once');
  });
});

/** A fetch that answers each node's address from a script: its texts in turn, or a failure. */
function fakeFetch(script: Record<string, (string | Error)[]>): { fetch: ScrapeFetch; urls: string[] } {
  const urls: string[] = [];
  const fetch: ScrapeFetch = async (url) => {
    urls.push(url);
    const next = script[new URL(url).host]!.shift()!;
    if (next instanceof Error) throw next;
    return { ok: true, status: 200, text: async () => next };
  };
  return { fetch, urls };
}

describe('TopService', () => {
  const refused = () => new TypeError('fetch failed', { cause: { code: 'ECONNREFUSED' } });

  it('scrapes each ready node with a metrics address twice; one that cannot be reached is an error, not a failure', async () => {
    const store = new InMemoryStore();
    store.putNode(node('n1'));
    store.putNode(node('n2'));
    store.putNode(node('n3', { state: 'down' }));
    store.putNode(nodeFixture('n4')); // exports no metrics
    const { fetch, urls } = fakeFetch({
      'n1.local:9101': [metrics('n1', [{ id: 'web.1.a', cpu: 1 }]), metrics('n1', [{ id: 'web.1.a', cpu: 1.5 }])],
      'n2.local:9101': [refused()],
    });
    const top = new TopService(store, { fetch, sampleMs: 0 });
    const answer = await top.nodes();
    expect(answer.items.map((n) => n.node)).toEqual(['n1']);
    expect(answer.items[0]!.cpuPercent).toBeGreaterThan(0);
    expect(answer.errors).toEqual([{ node: 'n2', message: 'http://n2.local:9101/metrics: ECONNREFUSED' }]);
    expect(answer.sampledOverSeconds).toBe(0);
    expect(urls.sort()).toEqual(['http://n1.local:9101/metrics', 'http://n1.local:9101/metrics', 'http://n2.local:9101/metrics']);
  });

  it('a node that fails its second scrape is an error too; one that answers with garbage says where', async () => {
    const store = new InMemoryStore();
    store.putNode(node('n1'));
    store.putNode(node('n2'));
    const { fetch } = fakeFetch({
      'n1.local:9101': [metrics('n1', []), refused()],
      'n2.local:9101': ['container_memory_working_set_bytes{task="x" 1\n'],
    });
    const answer = await new TopService(store, { fetch, sampleMs: 0 }).tasks();
    expect(answer).toEqual({
      items: [],
      sampledOverSeconds: 0,
      errors: [
        { node: 'n1', message: 'http://n1.local:9101/metrics: ECONNREFUSED' },
        { node: 'n2', message: 'http://n2.local:9101/metrics: not Prometheus text: line 1: expected "," or "}" after label "task"' },
      ],
    });
  });

  it('filters tasks by service, and scrapes only the node asked for', async () => {
    const store = new InMemoryStore();
    store.putNode(node('n1'));
    store.putNode(node('n2'));
    const text = metrics('n2', [{ id: 'web.1.a', cpu: 0 }, { id: 'api.1.b', cpu: 0 }]);
    const { fetch, urls } = fakeFetch({ 'n2.local:9101': [text, text] });
    const answer = await new TopService(store, { fetch, sampleMs: 0 }).tasks({ service: 'web', node: 'n2' });
    expect(answer.items.map((t) => t.task)).toEqual(['web.1.a']);
    expect(urls).toEqual(['http://n2.local:9101/metrics', 'http://n2.local:9101/metrics']);
  });

  it('answers no items at once when no node exports metrics', async () => {
    const store = new InMemoryStore();
    store.putNode(nodeFixture('n1'));
    const { fetch, urls } = fakeFetch({});
    expect(await new TopService(store, { fetch }).nodes()).toEqual({ items: [], sampledOverSeconds: 1, errors: [] });
    expect(urls).toEqual([]);
  });

  describe('against an agent’s real HTTP endpoint', () => {
    let agent: Server | undefined;
    afterEach(async () => {
      agent?.closeAllConnections();
      await new Promise((resolve) => agent?.close(resolve));
      agent = undefined;
    });

    it('reads its text, and gives up on one that does not answer within the deadline', async () => {
      let cpu = 3;
      agent = createServer((req, res) => {
        if (req.url === '/slow/metrics') return; // never answers
        res.writeHead(req.url === '/metrics' ? 200 : 404, { 'content-type': 'text/plain; version=0.0.4' });
        res.end(metrics('n1', [{ id: 'web.1.a', cpu: (cpu += 0.05), limit: 64 * MiB, quota: 25_000 }]));
      });
      await new Promise<void>((resolve) => agent!.listen(0, '127.0.0.1', resolve));
      const address = `127.0.0.1:${(agent.address() as AddressInfo).port}`;
      const store = new InMemoryStore();
      store.putNode(node('n1', { metricsAddress: address }));
      store.putNode(node('n2', { metricsAddress: `${address}/slow` }));
      const answer = await new TopService(store, { sampleMs: 50, timeoutMs: 300 }).tasks();
      expect(answer.items).toEqual([
        { task: 'web.1.a', service: 'web', slot: 1, node: 'n1', cpuPercent: expect.any(Number), memoryBytes: 10 * MiB, memoryLimitBytes: 64 * MiB, cpuLimitCores: 0.25 },
      ]);
      // 0.05 s of CPU over a little more than 50 ms.
      expect(answer.items[0]!.cpuPercent).toBeGreaterThan(5);
      expect(answer.items[0]!.cpuPercent).toBeLessThanOrEqual(100);
      expect(answer.errors).toEqual([{ node: 'n2', message: `http://${address}/slow/metrics: no answer within 300ms` }]);
    });
  });
});

describe('top API', () => {
  let app: NestFastifyApplication | undefined;
  afterEach(async () => {
    await app?.close();
    app = undefined;
  });

  it('serves /api/v1/top/nodes and /api/v1/top/tasks, and refuses a repeated filter with 422', async () => {
    const store = new InMemoryStore();
    store.putNode(nodeFixture('n1'));
    app = await createHttpApp({ store, metrics: new ControlPlaneMetrics() });
    for (const url of ['/api/v1/top/nodes', '/api/v1/top/tasks?service=web']) {
      const res = await app.inject({ method: 'GET', url });
      expect(res.statusCode).toBe(200);
      expect(res.json()).toEqual({ items: [], sampledOverSeconds: 1, errors: [] });
    }
    const bad = await app.inject({ method: 'GET', url: '/api/v1/top/tasks?node=n1&node=n2' });
    expect(bad.statusCode).toBe(422);
    expect(bad.json().issues).toEqual([{ path: 'node', message: 'must be given once' }]);
  });
});

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { HollowDriver } from '@berth/runtime';
import { Counter, Registry } from 'prom-client';
import { startAgent } from '../agent';
import { seedTestIdentity } from '../identity/testing';
import { MetricsListenError, MetricsServer } from './metrics-server';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function serve(registry = new Registry()): Promise<{ server: MetricsServer; base: string }> {
  const server = new MetricsServer(registry);
  cleanups.push(() => server.close());
  const address = await server.listen('127.0.0.1', 0);
  return { server, base: `http://${address}` };
}

describe('MetricsServer', () => {
  it("answers GET /metrics with the registry's text and content type, and 404 elsewhere", async () => {
    const registry = new Registry();
    new Counter({ name: 'demo_total', help: 'A demo counter.', registers: [registry] }).inc(3);
    const { base } = await serve(registry);

    const res = await fetch(`${base}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe(registry.contentType);
    expect(await res.text()).toContain('# TYPE demo_total counter\ndemo_total 3\n');
    expect((await fetch(`${base}/metrics?x=1`)).status).toBe(200);

    expect((await fetch(`${base}/`)).status).toBe(404);
    expect((await fetch(`${base}/metricsx`)).status).toBe(404);
    const post = await fetch(`${base}/metrics`, { method: 'POST' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
  });

  it('resolves to the address as bound, and refuses one in use with addressInUse', async () => {
    const { base } = await serve();
    expect(base).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const port = Number(new URL(base).port);
    const second = new MetricsServer(new Registry());
    const refused = await second.listen('127.0.0.1', port).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(MetricsListenError);
    expect(refused).toMatchObject({ code: 'UNAVAILABLE', addressInUse: true, message: expect.stringContaining(`127.0.0.1:${port}: address already in use`) });
  });

  it('stops listening on close, and a second close does nothing', async () => {
    const { server, base } = await serve();
    await server.close();
    await server.close();
    await expect(fetch(`${base}/metrics`)).rejects.toThrow();
  });
});

describe('startAgent with metrics', () => {
  it('serves the agent registry on the bound address until the agent stops; without the option, no endpoint', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'berth-agent-metrics-'));
    cleanups.push(async () => rmSync(dataDir, { recursive: true, force: true }));
    const identity = await seedTestIdentity(dataDir, 'n1'); // as a join would have left it
    // No control plane listens on port 1: the session keeps redialing, which is all this needs.
    const base = { server: '127.0.0.1:1', name: 'n1', labels: {}, insecureRegistries: [], address: '127.0.0.1', log: () => undefined };
    const agent = await startAgent({ ...base, dataDir, drivers: new Map([['container', new HollowDriver()]]), metrics: { host: '127.0.0.1', port: 0 } });
    cleanups.push(() => agent.stop());
    expect(agent.metricsAddress).toMatch(/^127\.0\.0\.1:\d+$/);
    const text = await (await fetch(`http://${agent.metricsAddress}/metrics`)).text();
    expect(text).toMatch(/^berth_agent_session_connected\{node="n1"\} 0$/m);
    expect(text).toMatch(/^process_cpu_seconds_total \d/m);
    expect(text).toContain(`berth_node_certificate_expiry_timestamp_seconds{node="n1"} ${identity.validTo.getTime() / 1000}\n`);

    await agent.stop();
    await expect(fetch(`http://${agent.metricsAddress}/metrics`)).rejects.toThrow();

    const quiet = await startAgent({ ...base, dataDir, drivers: new Map([['container', new HollowDriver()]]) });
    cleanups.push(() => quiet.stop());
    expect(quiet.metricsAddress).toBeUndefined();
  });
});

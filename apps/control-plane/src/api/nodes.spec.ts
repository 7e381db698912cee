import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { createHttpApp } from '../http/http-app';
import { ControlPlaneMetrics } from '../observability/metrics';
import { nodeFixture } from '../testing/fixtures';
import { InMemoryStore } from '@berth/store/testing';

describe('nodes API', () => {
  let app: NestFastifyApplication | undefined;
  afterEach(async () => {
    await app?.close();
    app = undefined;
  });

  async function start(): Promise<InMemoryStore> {
    const store = new InMemoryStore();
    store.putNode(nodeFixture('n1'));
    store.putNode(nodeFixture('n2', { state: 'unknown' }));
    store.putNode(nodeFixture('n3', { state: 'down', downSince: '2026-01-01T00:00:00.000Z' }));
    app = await createHttpApp({ store, metrics: new ControlPlaneMetrics() });
    return store;
  }
  const states = async () => (await app!.inject({ method: 'GET', url: '/api/v1/nodes' })).json().map((n: { status: { state: string } }) => n.status.state);

  it('shows each node as the store has it: ready, absent but not declared down (unknown), down since', async () => {
    await start();
    expect(await states()).toEqual(['ready', 'unknown', 'down']);
    const n3 = (await app!.inject({ method: 'GET', url: '/api/v1/nodes/n3' })).json();
    expect(n3.status).toMatchObject({ state: 'down', downSince: '2026-01-01T00:00:00.000Z', tasks: 0, allocated: { cpu: '0', memory: '0' } });
  });

  it('sets a node’s availability', async () => {
    const store = await start();
    const res = await app!.inject({ method: 'PUT', url: '/api/v1/nodes/n1/availability', payload: { availability: 'drain' } });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ metadata: { name: 'n1' }, spec: { availability: 'drain' }, status: { state: 'ready' } });
    expect(store.nodes.items.get('n1')?.availability).toBe('drain');
  });

  it('refuses an unknown availability and an unknown node', async () => {
    await start();
    const bad = await app!.inject({ method: 'PUT', url: '/api/v1/nodes/n1/availability', payload: { availability: 'off' } });
    expect(bad.statusCode).toBe(422);
    expect(bad.json().detail).toBe('availability must be "active", "pause" or "drain" (got "off")');
    const missing = await app!.inject({ method: 'PUT', url: '/api/v1/nodes/nope/availability', payload: { availability: 'pause' } });
    expect(missing.statusCode).toBe(404);
    expect(missing.json().detail).toBe('node "nope" not found');
  });

  it("labels a node: sets and removes keys, refuses bad ones with the field, 404 for an unknown node", async () => {
    await start();
    const res = await app!.inject({ method: 'PATCH', url: '/api/v1/nodes/n1/labels', payload: { set: { zone: 'a', disk: 'ssd' } } });
    expect(res.statusCode).toBe(200);
    expect(res.json().metadata.labels).toEqual({ disk: 'ssd', zone: 'a' });
    const removed = await app!.inject({ method: 'PATCH', url: '/api/v1/nodes/n1/labels', payload: { remove: ['disk'] } });
    expect(removed.json().metadata.labels).toEqual({ zone: 'a' });
    const bad = await app!.inject({ method: 'PATCH', url: '/api/v1/nodes/n1/labels', payload: { set: { 'bad key': 'x' }, remove: ['zone'] } });
    expect(bad.statusCode).toBe(422);
    expect(bad.json().issues).toEqual([{ path: 'set.bad key', message: '"bad key" is not a valid label key' }]);
    const none = await app!.inject({ method: 'PATCH', url: '/api/v1/nodes/n1/labels', payload: {} });
    expect(none.statusCode).toBe(422);
    expect((await app!.inject({ method: 'PATCH', url: '/api/v1/nodes/nope/labels', payload: { set: { zone: 'a' } } })).statusCode).toBe(404);
    expect((await app!.inject({ method: 'GET', url: '/api/v1/nodes/n1' })).json().metadata.labels).toEqual({ zone: 'a' });
  });

  it('removes a down node; a ready one only with force; 404 once gone', async () => {
    await start();
    const refused = await app!.inject({ method: 'DELETE', url: '/api/v1/nodes/n1' });
    expect(refused.statusCode).toBe(409);
    expect(refused.json().detail).toMatch(/^node n1 is ready: stop its agent first/);
    const down = await app!.inject({ method: 'DELETE', url: '/api/v1/nodes/n3' });
    expect(down.statusCode).toBe(200);
    expect(down.json()).toMatchObject({ metadata: { name: 'n3' }, status: { state: 'down' } });
    expect((await app!.inject({ method: 'DELETE', url: '/api/v1/nodes/n1?force=true' })).statusCode).toBe(200);
    expect((await app!.inject({ method: 'GET', url: '/api/v1/nodes' })).json().map((n: { metadata: { name: string } }) => n.metadata.name)).toEqual(['n2']);
    expect((await app!.inject({ method: 'DELETE', url: '/api/v1/nodes/n3' })).statusCode).toBe(404);
    expect((await app!.inject({ method: 'DELETE', url: '/api/v1/nodes/n2?force=maybe' })).statusCode).toBe(422);
  });

  it('plans without a node: 200 with the answer, 404 for an unknown node, 422 without one', async () => {
    await start();
    const plan = await app!.inject({ method: 'GET', url: '/api/v1/plan?without=n1' });
    expect(plan.statusCode).toBe(200);
    expect(plan.json()).toEqual({ without: ['n1'], fits: true, tasks: [] });
    const unknown = await app!.inject({ method: 'GET', url: '/api/v1/plan?without=n1,n9' });
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json().detail).toBe('node "n9" not found (berth get nodes lists them)');
    expect((await app!.inject({ method: 'GET', url: '/api/v1/plan' })).statusCode).toBe(422);
  });
});

import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { createHttpApp } from '../http/http-app';
import { ControlPlaneMetrics } from '../observability/metrics';
import { nodeFixture } from '../testing/fixtures';
import { InMemoryStore } from '../testing/in-memory-store';

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
});

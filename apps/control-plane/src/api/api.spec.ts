import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { createHttpApp } from '../http/http-app';
import { ControlPlaneMetrics } from '../observability/metrics';
import { InMemoryStore } from '@berth/store/testing';
import { taskFixture } from '../testing/fixtures';

const WEB = `apiVersion: berth/v1
kind: Service
metadata:
  name: web
  labels: { tier: frontend }
spec:
  replicas: 3
  template:
    image: 127.0.0.1:5000/busybox:1
    command: ["httpd", "-f", "-p", "8080"]
    resources: { cpu: 500m, memory: 64Mi }
`;

const webItem = (overrides: Record<string, unknown> = {}) => ({
  apiVersion: 'berth/v1',
  kind: 'Service',
  metadata: { name: 'web', ...overrides },
  spec: { replicas: 3, template: { image: '127.0.0.1:5000/busybox:1' } },
});

describe('HTTP API', () => {
  let store: InMemoryStore;
  let app: NestFastifyApplication;
  const apps: NestFastifyApplication[] = [];

  beforeEach(async () => {
    store = new InMemoryStore();
    app = await createHttpApp({ store, metrics: new ControlPlaneMetrics() });
    apps.push(app);
  });
  afterAll(async () => {
    for (const a of apps) await a.close();
  });

  const post = (url: string, payload: unknown) => app.inject({ method: 'POST', url, payload: payload as object });
  const applyYaml = () => post('/api/v1/apply', { sources: [{ file: 'web.yaml', text: WEB }] });

  it('creates a service and answers with its view', async () => {
    const res = await applyYaml();
    expect(res.statusCode).toBe(200);
    const item = res.json().items[0];
    expect(item).toMatchObject({ name: 'web', action: 'created' });
    expect(item.service.metadata).toMatchObject({ name: 'web', generation: 1, labels: { tier: 'frontend' } });
    expect(typeof item.service.metadata.resourceVersion).toBe('string');
    expect(item.service.spec.template.resources).toMatchObject({ cpu: '500m', memory: '64Mi' });
    expect(item.service.status).toEqual({ desired: 3, running: 0, updated: 0 });
    expect((await app.inject({ method: 'GET', url: '/api/v1/services/web' })).json().metadata.name).toBe('web');
  });

  it('reports an unchanged re-apply and keeps the resourceVersion', async () => {
    const first = (await applyYaml()).json().items[0].service.metadata;
    const again = (await applyYaml()).json().items[0];
    expect(again.action).toBe('unchanged');
    expect(again.service.metadata).toMatchObject({ resourceVersion: first.resourceVersion, generation: 1 });
  });

  it('stores nothing on a dry run', async () => {
    const res = await app.inject({ method: 'POST', url: '/api/v1/apply?dryRun=true', payload: { items: [webItem()] } });
    expect(res.json().items[0].action).toBe('created');
    expect((await app.inject({ method: 'GET', url: '/api/v1/services' })).json()).toEqual([]);
  });

  it('accepts a raw YAML body and reports its errors with line and column', async () => {
    const ok = await app.inject({ method: 'POST', url: '/api/v1/apply', headers: { 'content-type': 'application/yaml' }, payload: WEB });
    expect(ok.statusCode).toBe(200);
    const bad = await app.inject({
      method: 'POST',
      url: '/api/v1/apply',
      headers: { 'content-type': 'application/yaml' },
      payload: WEB.replace('replicas: 3', 'replicas: three'),
    });
    expect(bad.statusCode).toBe(422);
    expect(bad.headers['content-type']).toContain('application/problem+json');
    const body = bad.json();
    expect(body).toMatchObject({ status: 422, code: 'INVALID', type: 'https://berth.dev/problems/invalid' });
    expect(body.issues[0]).toMatchObject({ path: 'spec.replicas', file: '<request>', line: 7, col: 13 });
    expect(body.detail).toContain('<request>:7:13');
  });

  it('refuses a write against a stale resourceVersion with 409', async () => {
    await applyYaml();
    const res = await post('/api/v1/apply', { items: [webItem({ resourceVersion: '999' })] });
    expect(res.statusCode).toBe(409);
    expect(res.json()).toMatchObject({ code: 'CONFLICT', status: 409 });
  });

  it('answers 404 problems for unknown services, tasks, nodes and routes', async () => {
    for (const url of ['/api/v1/services/nope', '/api/v1/tasks/nope.1.x', '/api/v1/nodes/nope', '/api/v1/nothing-here']) {
      const res = await app.inject({ method: 'GET', url });
      expect(res.statusCode, url).toBe(404);
      expect(res.headers['content-type']).toContain('application/problem+json');
      expect(res.json()).toMatchObject({ code: 'NOT_FOUND', status: 404 });
    }
    expect((await app.inject({ method: 'GET', url: '/api/v1/services/nope' })).json().detail).toBe('service "nope" not found');
  });

  it('refuses bodies over 4 MiB with 413 before parsing', async () => {
    const text = `# ${'x'.repeat(4 * 1024 * 1024)}\n${WEB}`;
    const res = await post('/api/v1/apply', { sources: [{ file: 'big.yaml', text }] });
    expect(res.statusCode).toBe(413);
    expect(res.json()).toMatchObject({ code: 'TOO_LARGE', status: 413 });
  });

  it('answers 422 to malformed JSON, an unknown content type and a body of the wrong shape', async () => {
    const bad = await app.inject({ method: 'POST', url: '/api/v1/apply', headers: { 'content-type': 'application/json' }, payload: '{"items": [' });
    expect(bad.statusCode).toBe(422);
    expect(bad.json().code).toBe('INVALID');
    const plain = await app.inject({ method: 'POST', url: '/api/v1/apply', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: WEB });
    expect(plain.statusCode).toBe(422);
    expect(plain.json().detail).toContain('application/yaml');
    const shape = await post('/api/v1/apply', { manifests: [] });
    expect(shape.statusCode).toBe(422);
    expect(shape.json().issues[0].path).toBe('manifests');
  });

  it('scales a service and validates the replica count', async () => {
    await applyYaml();
    for (const replicas of [-1, 2.5, 'three', 10_001]) {
      const res = await app.inject({ method: 'PUT', url: '/api/v1/services/web/scale', payload: { replicas } });
      expect(res.statusCode, String(replicas)).toBe(422);
      expect(res.json().issues[0].path).toBe('replicas');
    }
    const ok = await app.inject({ method: 'PUT', url: '/api/v1/services/web/scale', payload: { replicas: 5 } });
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toMatchObject({ metadata: { generation: 2 }, spec: { replicas: 5 } });
    const missing = await app.inject({ method: 'PUT', url: '/api/v1/services/nope/scale', payload: { replicas: 1 } });
    expect(missing.statusCode).toBe(404);
  });

  it('lists services sorted by name with the status the leader wrote', async () => {
    await post('/api/v1/apply', { items: [webItem(), { ...webItem(), metadata: { name: 'api' } }] });
    store.leaderFence = { leaderKey: 'k', createRevision: '1' };
    await store.putServiceStatuses(new Map([['web', { desired: 3, running: 2, updated: 1, observedGeneration: 1, updatedAt: 'now' }]]), store.leaderFence);
    const list = (await app.inject({ method: 'GET', url: '/api/v1/services' })).json();
    expect(list.map((s: { metadata: { name: string } }) => s.metadata.name)).toEqual(['api', 'web']);
    expect(list[1].status).toEqual({ desired: 3, running: 2, updated: 1 });
  });

  it('shows a diff of what apply would change, without changing it', async () => {
    await applyYaml();
    const res = await post('/api/v1/diff', { sources: [{ file: 'web.yaml', text: WEB.replace('replicas: 3', 'replicas: 4') }] });
    expect(res.statusCode).toBe(200);
    const item = res.json().items[0];
    expect(item).toMatchObject({ name: 'web', action: 'configured' });
    expect(item.diff).toContain('+');
    expect(item.diff).toContain('replicas: 4');
    expect((await app.inject({ method: 'GET', url: '/api/v1/services/web' })).json().spec.replicas).toBe(3);
    const same = (await post('/api/v1/diff', { sources: [{ file: 'web.yaml', text: WEB }] })).json().items[0];
    expect(same).toEqual({ name: 'web', action: 'unchanged', diff: '' });
  });

  it('deletes a service and answers with it as it was', async () => {
    await applyYaml();
    const res = await app.inject({ method: 'DELETE', url: '/api/v1/services/web' });
    expect(res.statusCode).toBe(200);
    expect(res.json().metadata.name).toBe('web');
    expect((await app.inject({ method: 'GET', url: '/api/v1/services/web' })).statusCode).toBe(404);
    expect((await app.inject({ method: 'DELETE', url: '/api/v1/services/web' })).statusCode).toBe(404);
  });

  it('lists tasks, optionally of one service', async () => {
    store.putTask(taskFixture('web', 1));
    store.putTask(taskFixture('db', 1));
    const all = (await app.inject({ method: 'GET', url: '/api/v1/tasks' })).json();
    expect(all).toHaveLength(2);
    const web = (await app.inject({ method: 'GET', url: '/api/v1/tasks?service=web' })).json();
    expect(web).toHaveLength(1);
    expect(web[0]).toMatchObject({ metadata: { service: 'web', slot: 1 }, spec: { desiredState: 'running' }, status: { state: 'running' } });
  });

  it('answers /healthz always and /readyz 503 while the store is unreachable', async () => {
    expect((await app.inject({ method: 'GET', url: '/healthz' })).json()).toEqual({ status: 'ok' });
    expect((await app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(200);
    store.unavailable = true;
    const res = await app.inject({ method: 'GET', url: '/readyz' });
    expect(res.statusCode).toBe(503);
    expect(res.json()).toMatchObject({ code: 'UNAVAILABLE', status: 503 });
    expect((await app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
  });

  it('times requests by route pattern, not by URL', async () => {
    await app.inject({ method: 'GET', url: '/api/v1/services/web' });
    await app.inject({ method: 'GET', url: '/api/v1/services/db' });
    await app.inject({ method: 'GET', url: '/api/v1/no/such/route' });
    const text = (await app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(text).toContain('berth_api_request_duration_seconds_count{route="/api/v1/services/:name",code="404"} 2');
    expect(text).not.toContain('route="/api/v1/services/web"');
    expect(text).toContain('berth_api_request_duration_seconds_count{route="unmatched",code="404"} 1');
    expect(text).toMatch(/^berth_leader 0$/m);
    expect(text).toContain('process_cpu_user_seconds_total');
  });
});

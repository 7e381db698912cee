import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { isTaskCurrent } from '@berth/core';
import { createHttpApp } from '../http/http-app';
import { ControlPlaneMetrics } from '../observability/metrics';
import { InMemoryStore } from '@berth/store/testing';
import { ImageResolveError, type ImageResolver } from './image-resolver';

const [A, B] = [`sha256:${'a'.repeat(64)}`, `sha256:${'b'.repeat(64)}`];
const manifest = (image: string, extra = '') =>
  `apiVersion: berth/v1\nkind: Service\nmetadata: { name: web }\nspec:\n  replicas: 2\n  template:\n    image: ${image}\n${extra}`;

describe('images pinned to digests at apply (HTTP API)', () => {
  let store: InMemoryStore;
  let app: NestFastifyApplication;
  /** What the registry's tags name now; a tag missing here is unreachable. */
  let tags: Record<string, string>;
  const apps: NestFastifyApplication[] = [];
  const resolver: ImageResolver = {
    resolve: (ref) => (tags[ref] ? Promise.resolve(tags[ref]) : Promise.reject(new ImageResolveError(ref, 'connection refused'))),
  };

  beforeEach(async () => {
    store = new InMemoryStore();
    tags = { 'r.io/busybox:1': A, 'r.io/busybox:2': B };
    app = await createHttpApp({ store, metrics: new ControlPlaneMetrics(), imageResolver: resolver });
    apps.push(app);
  });
  afterAll(async () => {
    for (const a of apps) await a.close();
  });

  const apply = async (text: string, query = '') => (await app.inject({ method: 'POST', url: `/api/v1/apply${query}`, payload: { sources: [{ file: 'web.yaml', text }] } })).json();
  const restart = () => app.inject({ method: 'POST', url: '/api/v1/services/web/rollout/restart' });
  const stored = async () => (await store.getService('web'))!;

  it('pins at apply, shows the digest as status.imageDigest, and keeps it on an unchanged re-apply after the tag moved', async () => {
    const first = await apply(manifest('r.io/busybox:1'));
    expect(first).toMatchObject({ items: [{ action: 'created', service: { spec: { template: { image: 'r.io/busybox:1' } }, status: { imageDigest: A } } }], warnings: [] });
    expect(first.items[0].service.spec.template).not.toHaveProperty('imageDigest');
    tags['r.io/busybox:1'] = B;
    expect(await apply(manifest('r.io/busybox:1'))).toMatchObject({ items: [{ action: 'unchanged', service: { status: { imageDigest: A } } }] });
    expect(await apply(manifest('r.io/busybox:1', '    env: { X: "1" }\n'))).toMatchObject({ items: [{ action: 'configured', service: { status: { imageDigest: A } } }] });
  });

  it('re-resolves when the image changes; a dry run and diff show the digest that would be pinned', async () => {
    await apply(manifest('r.io/busybox:1'));
    expect(await apply(manifest('r.io/busybox:2'), '?dryRun=true')).toMatchObject({ items: [{ action: 'configured', service: { status: { imageDigest: B } } }] });
    const diff = (await app.inject({ method: 'POST', url: '/api/v1/diff', payload: { sources: [{ file: 'web.yaml', text: manifest('r.io/busybox:2') }] } })).json();
    expect(diff.items[0].diff.split('\n').filter((l: string) => /^[-+] /.test(l))).toEqual([
      '-    image: r.io/busybox:1',
      `-    imageDigest: ${A}`,
      '+    image: r.io/busybox:2',
      `+    imageDigest: ${B}`,
    ]);
    expect((await stored()).spec.template.imageDigest).toBe(A);
    await apply(manifest('r.io/busybox:2'));
    expect((await stored()).spec.template.imageDigest).toBe(B);
  });

  it('accepts an image it cannot resolve, unpinned, with a warning; pins nothing under an imagePull policy', async () => {
    const r = await apply(manifest('127.0.0.1:5999/busybox:1'));
    expect(r.items[0].service.status).not.toHaveProperty('imageDigest');
    expect(r.warnings).toEqual([
      'web: could not resolve 127.0.0.1:5999/busybox:1 to a digest (connection refused); every node pulls the tag itself, so nodes may run different images',
    ]);
    const always = await apply(manifest('r.io/busybox:1', '    imagePull: always\n'));
    expect(always).toMatchObject({ items: [{ action: 'configured', service: { spec: { template: { imagePull: 'always' } } } }], warnings: [] });
    expect((await stored()).spec.template).not.toHaveProperty('imageDigest');
  });

  it('rollout restart moves a pinned service to what the tag names now, as a rollout', async () => {
    await apply(manifest('r.io/busybox:1'));
    const before = await stored();
    tags['r.io/busybox:1'] = B;
    const res = await restart();
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ metadata: { revision: 2 }, status: { imageDigest: B } });
    const after = await stored();
    expect(isTaskCurrent({ specGeneration: after.meta.generation, template: before.spec.template }, { ...after, meta: { ...after.meta, restartGeneration: undefined } })).toBe(false);
    const history = (await app.inject({ method: 'GET', url: '/api/v1/services/web/revisions' })).json();
    expect(history.items.map((i: { imageDigest?: string }) => i.imageDigest)).toEqual([A, B]);
  });

  it('refuses to restart a pinned service whose tag cannot be resolved, changing nothing', async () => {
    await apply(manifest('r.io/busybox:1'));
    delete tags['r.io/busybox:1'];
    const res = await restart();
    expect(res.statusCode).toBe(503);
    expect(res.json().detail).toBe(
      `could not resolve r.io/busybox:1 to a digest (connection refused); nothing was restarted, web stays on ${A}: try again once the control plane reaches the registry`,
    );
    expect((await stored()).meta.revision).toBe(1);
  });

  it('restarts an unpinned service that still cannot be resolved, and pins it once it can be', async () => {
    await apply(manifest('r.io/busybox:3'));
    expect((await restart()).json()).toMatchObject({ metadata: { revision: 2 } });
    expect((await stored()).spec.template).not.toHaveProperty('imageDigest');
    tags['r.io/busybox:3'] = A;
    expect((await restart()).json()).toMatchObject({ metadata: { revision: 3 }, status: { imageDigest: A } });
  });
});

import { ConflictError, NotFoundError, TooLargeError, type Service } from '@berth/core';
import { createEtcdClient, EtcdStore, LeaderElection, type Etcd3, type Leadership, type WatchEvent } from '@berth/store';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { requireTools } from '../../support/prereq';
import { startSingle, type EtcdMember } from './etcd-containers';
import { draft } from './fixtures';

const ready = requireTools(['docker', 'etcd'], { root: true });

describe.runIf(ready)('EtcdStore against one etcd member', () => {
  let etcd: EtcdMember | undefined;
  let client: Etcd3;
  let n = 0;
  /** Every test gets its own key prefix, so tests cannot see each other's keys. */
  const fresh = () => new EtcdStore(client, { prefix: `/t${++n}/` });

  beforeAll(async () => {
    etcd = await startSingle();
    client = createEtcdClient({ endpoints: [etcd.endpoint] });
  });
  afterAll(async () => {
    client?.close();
    await etcd?.container.stop({ timeout: 1 });
  });

  it('creates, reads, lists, scales and deletes a service', async () => {
    const store = fresh();
    const [created] = await store.applyServices([draft('web', { labels: { tier: 'frontend' } })]);
    expect(created).toMatchObject({ name: 'web', action: 'created' });
    expect(created!.service.meta).toMatchObject({ name: 'web', generation: 1, labels: { tier: 'frontend' } });
    const got = await store.getService('web');
    expect(got).toEqual(created!.service);
    await store.applyServices([draft('api')]);
    expect((await store.listServices()).map((s) => s.meta.name)).toEqual(['api', 'web']);

    const scaled = await store.scaleService('web', 5);
    expect(scaled.spec.replicas).toBe(5);
    expect(scaled.meta.generation).toBe(2);
    expect(BigInt(scaled.meta.resourceVersion)).toBeGreaterThan(BigInt(got!.meta.resourceVersion));

    await store.deleteService('web');
    expect(await store.getService('web')).toBeUndefined();
    await expect(store.deleteService('web')).rejects.toBeInstanceOf(NotFoundError);
    await expect(store.scaleService('web', 1)).rejects.toBeInstanceOf(NotFoundError);
  });

  it('refuses a stale resourceVersion and writes nothing', async () => {
    const store = fresh();
    const [first] = await store.applyServices([draft('web')]);
    const stale = first!.service.meta.resourceVersion;
    await store.applyServices([draft('web', { replicas: 2 })]);
    const before = await store.getService('web');

    const err = await store.applyServices([draft('web', { replicas: 9, resourceVersion: stale })]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConflictError);
    expect((err as Error).message).toContain('"web"');
    expect((err as Error).message).toContain(stale);
    expect((err as Error).message).toContain(before!.meta.resourceVersion);
    expect(await store.getService('web')).toEqual(before);

    await expect(store.deleteService('web', { resourceVersion: stale })).rejects.toBeInstanceOf(ConflictError);
    expect(await store.getService('web')).toEqual(before);
  });

  it('applies many services all-or-nothing: one conflicting item means none is written', async () => {
    const store = fresh();
    const [existing] = await store.applyServices([draft('db')]);
    await store.scaleService('db', 3); // moves db past the version the caller holds
    const err = await store
      .applyServices([draft('a'), draft('b'), draft('db', { replicas: 7, resourceVersion: existing!.service.meta.resourceVersion })])
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConflictError);
    expect((await store.listServices()).map((s) => s.meta.name)).toEqual(['db']);
    expect((await store.getService('db'))!.spec.replicas).toBe(3);
  });

  it('reports an unchanged re-apply without touching resourceVersion or generation', async () => {
    const store = fresh();
    const [first] = await store.applyServices([draft('web', { labels: { a: '1' } })]);
    const [again] = await store.applyServices([draft('web', { labels: { a: '1' } })]);
    expect(again!.action).toBe('unchanged');
    expect(again!.service.meta.resourceVersion).toBe(first!.service.meta.resourceVersion);
    expect(again!.service.meta.generation).toBe(1);
    const [changed] = await store.applyServices([draft('web', { labels: { a: '2' } })]);
    expect(changed!.action).toBe('configured');
    expect(changed!.service.meta.generation).toBe(2);
    expect(changed!.service.meta.createdAt).toBe(first!.service.meta.createdAt);
  });

  it('computes a dry run the same way and writes nothing', async () => {
    const store = fresh();
    await store.applyServices([draft('web')]);
    const outcomes = await store.applyServices([draft('web', { replicas: 4 }), draft('new')], { dryRun: true });
    expect(outcomes.map((o) => [o.name, o.action, o.service.meta.generation])).toEqual([
      ['web', 'configured', 2],
      ['new', 'created', 1],
    ]);
    expect((await store.listServices()).map((s) => [s.meta.name, s.spec.replicas])).toEqual([['web', 1]]);
  });

  it('never loses either of two concurrent applies to the same service', async () => {
    const store = fresh();
    await store.applyServices([draft('shared')]);
    const [a, b] = await Promise.all([
      store.applyServices([draft('a'), draft('shared', { labels: { a: 'yes' } })]),
      store.applyServices([draft('b'), draft('shared', { replicas: 2 })]),
    ]);
    expect([a![1]!.action, b![1]!.action]).toEqual(['configured', 'configured']);
    expect((await store.listServices()).map((s) => s.meta.name)).toEqual(['a', 'b', 'shared']);
    // Both writes happened, one after the other: generation counts both.
    expect((await store.getService('shared'))!.meta.generation).toBe(3);
  });

  it('under heavy contention every apply either lands or fails with ConflictError', async () => {
    const store = fresh();
    const names = Array.from({ length: 8 }, (_, i) => `svc${i}`);
    const results = await Promise.allSettled(names.map((name) => store.applyServices([draft(name), draft('shared', { labels: { by: name } })])));
    const stored = new Set((await store.listServices()).map((s) => s.meta.name));
    results.forEach((r, i) => {
      if (r.status === 'fulfilled') expect(stored.has(names[i]!)).toBe(true);
      else expect(r.reason).toBeInstanceOf(ConflictError);
    });
    expect(results.some((r) => r.status === 'fulfilled')).toBe(true);
  });

  it('refuses a transaction beyond etcd limits with TooLargeError and writes nothing', async () => {
    const store = fresh();
    const many = Array.from({ length: 200 }, (_, i) => draft(`s${i}`));
    const err = await store.applyServices(many).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TooLargeError);
    expect((err as Error).message).toContain('200 service(s)');
    expect((err as Error).message).toContain('128');
    expect(await store.listServices()).toEqual([]);
  });

  it('keeps status writes off the spec: resourceVersion stays and a services informer stays quiet', async () => {
    const prefix = `/t${++n}/`;
    const store = new EtcdStore(client, { prefix });
    const stop = new AbortController();
    const informer = store.serviceInformer();
    const events: WatchEvent<Service>[] = [];
    informer.subscribe((e) => events.push(e));
    const running = informer.run(stop.signal);
    const election = new LeaderElection(client, { id: 'cp-1', ttlSeconds: 2, prefix });
    let lead: Leadership | undefined;
    const leading = election.runAsLeader(stop.signal, async (l) => {
      lead = l;
      await new Promise((r) => l.signal.addEventListener('abort', r));
    });
    try {
      await informer.synced();
      const [web] = await store.applyServices([draft('web')]);
      await vi.waitFor(() => expect(events.map((e) => e.key)).toEqual(['web']), { timeout: 10_000 });
      await vi.waitFor(() => expect(lead).toBeDefined(), { timeout: 10_000 });

      const status = { desired: 1, running: 1, updated: 1, observedGeneration: 1, updatedAt: new Date().toISOString() };
      await store.putServiceStatuses(new Map([['web', status]]), lead!.fence);
      expect(await store.getServiceStatus('web')).toEqual(status);
      expect((await store.getService('web'))!.meta.resourceVersion).toBe(web!.service.meta.resourceVersion);

      await store.applyServices([draft('after')]); // the next thing the informer sees must be this
      await vi.waitFor(() => expect(events.map((e) => e.key)).toEqual(['web', 'after']), { timeout: 10_000 });

      await store.deleteServiceStatuses(['web'], lead!.fence);
      expect(await store.getServiceStatus('web')).toBeUndefined();
    } finally {
      stop.abort();
      await Promise.all([running, leading]);
    }
  });

  it('keeps the last 10 revisions; a scale is none; undo restores a spec exactly with the current replicas', async () => {
    const store = fresh();
    const image = (i: number) => `127.0.0.1:5000/busybox:${i}`;
    const withImage = (i: number, replicas = 1) => {
      const d = draft('web', { replicas });
      return { ...d, spec: { ...d.spec, template: { ...d.spec.template, image: image(i) } } };
    };
    for (let i = 1; i <= 12; i++) await store.applyServices([withImage(i)]);
    const scaled = await store.scaleService('web', 3);
    expect(scaled.meta).toMatchObject({ generation: 13, revision: 12 });
    const history = await store.listRevisions('web');
    expect(history.map((r) => r.revision)).toEqual([3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    expect(history.map((r) => r.spec.template.image)).toEqual([3, 4, 5, 6, 7, 8, 9, 10, 11, 12].map(image));
    expect(history.every((r) => r.cause === 'apply')).toBe(true);

    const undone = await store.restoreRevision('web', 10, { cause: 'undo to revision 10' });
    expect(undone.meta).toMatchObject({ generation: 14, revision: 13 });
    expect(undone.spec).toEqual({ ...history[7]!.spec, replicas: 3 });
    expect((await store.listRevisions('web')).at(-1)).toMatchObject({ revision: 13, cause: 'undo to revision 10' });
    await expect(store.restoreRevision('web', 2, { cause: 'undo' })).rejects.toThrow(/revision "web@2" not found \(only the last 10/);
    await expect(store.restoreRevision('web', 10, { cause: 'undo', resourceVersion: scaled.meta.resourceVersion })).rejects.toBeInstanceOf(ConflictError);

    const restarted = await store.restartService('web');
    expect(restarted.meta).toMatchObject({ generation: 15, revision: 14, restartGeneration: 15 });
    expect(restarted.spec).toEqual(undone.spec);
    // A restart may re-pin the image: the new digest is in the spec and in its history entry.
    const digest = `sha256:${'e'.repeat(64)}`;
    const repinned = await store.restartService('web', { imageDigest: digest });
    expect(repinned.spec.template).toEqual({ ...undone.spec.template, imageDigest: digest });
    expect((await store.listRevisions('web')).at(-1)).toMatchObject({ revision: 15, cause: 'restart', spec: { template: { imageDigest: digest } } });
    const paused = await store.controlRollout('web', 'pause');
    expect(paused.meta.rolloutControl).toMatchObject({ revision: 15, action: 'pause' });
    // An apply keeps what the server owns: the restart mark and the operator's word.
    const [reapplied] = await store.applyServices([withImage(11, 3)]);
    expect(reapplied!.service.meta).toMatchObject({ revision: 16, restartGeneration: 16, rolloutControl: { revision: 15, action: 'pause' } });

    await store.deleteService('web');
    const { kvs } = await client.kv.range({ key: Buffer.from(`/t${n}/history/`), range_end: Buffer.from(`/t${n}/history0`) });
    expect(kvs).toEqual([]);
    await expect(store.listRevisions('web')).rejects.toBeInstanceOf(NotFoundError);
  });

  it('writes rollout records only while leading, and a leader rollback writes spec, history and record at once', async () => {
    const prefix = `/t${++n}/`;
    const store = new EtcdStore(client, { prefix });
    const stop = new AbortController();
    const election = new LeaderElection(client, { id: 'cp-1', ttlSeconds: 2, prefix });
    let lead: Leadership | undefined;
    const leading = election.runAsLeader(stop.signal, async (l) => {
      lead = l;
      await new Promise((r) => l.signal.addEventListener('abort', r));
    });
    try {
      await vi.waitFor(() => expect(lead).toBeDefined(), { timeout: 10_000 });
      const d = draft('web', { replicas: 2 });
      await store.applyServices([d]);
      const [v2] = await store.applyServices([{ ...d, spec: { ...d.spec, template: { ...d.spec.template, command: ['false'] } } }]);
      const at = new Date().toISOString();
      const record = { revision: 2, state: 'updating' as const, previousRevision: 1, total: 2, updated: 0, failed: 0, startedAt: at, updatedAt: at };
      await store.putRollouts(new Map([['web', record]]), lead!.fence);
      expect(await store.getRollout('web')).toEqual(record);
      await expect(store.putRollouts(new Map([['web', record]]), { ...lead!.fence, createRevision: '1' })).rejects.toThrow(/leader/i);

      const restored = await store.restoreRevision('web', 1, {
        cause: 'rollback to revision 1: web.1.x failed',
        resourceVersion: v2!.service.meta.resourceVersion,
        fence: lead!.fence,
        rollout: (revision) => ({ ...record, revision, state: 'rolling-back', rollbackOf: 2 }),
      });
      expect(restored.meta.revision).toBe(3);
      expect(restored.spec.template.command).toBeUndefined();
      expect(await store.getRollout('web')).toMatchObject({ revision: 3, state: 'rolling-back', rollbackOf: 2 });
      expect((await store.listRevisions('web')).map((r) => r.cause)).toEqual(['apply', 'apply', 'rollback to revision 1: web.1.x failed']);
      await store.deleteService('web');
      expect(await store.getRollout('web')).toBeUndefined();
    } finally {
      stop.abort();
      await leading;
    }
  });

  it('writes more statuses than one batch holds', async () => {
    const prefix = `/t${++n}/`;
    const store = new EtcdStore(client, { prefix });
    const stop = new AbortController();
    let lead: Leadership | undefined;
    const leading = new LeaderElection(client, { id: 'cp', ttlSeconds: 2, prefix }).runAsLeader(stop.signal, async (l) => {
      lead = l;
      await new Promise((r) => l.signal.addEventListener('abort', r));
    });
    try {
      await vi.waitFor(() => expect(lead).toBeDefined(), { timeout: 10_000 });
      const status = { desired: 1, running: 0, updated: 0, observedGeneration: 1, updatedAt: new Date().toISOString() };
      const statuses = new Map(Array.from({ length: 300 }, (_, i) => [`s${i}`, status] as const));
      await store.putServiceStatuses(statuses, lead!.fence);
      expect((await store.listServiceStatuses()).size).toBe(300);
    } finally {
      stop.abort();
      await leading;
    }
  });
});

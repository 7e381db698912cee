import type { Service } from '@berth/core';
import { createEtcdClient, EtcdStore, type Etcd3, type WatchEvent } from '@berth/store';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { requireTools } from '../../support/prereq';
import { startSingle, type EtcdMember } from './etcd-containers';
import { draft } from './fixtures';
import { TcpProxy } from './tcp-proxy';

const ready = requireTools(['docker', 'etcd'], { root: true });

describe.runIf(ready)('informer', () => {
  let etcd: EtcdMember | undefined;
  let proxy: TcpProxy | undefined;
  let direct: Etcd3;
  let proxied: Etcd3;

  beforeAll(async () => {
    etcd = await startSingle();
    const url = new URL(etcd.endpoint);
    proxy = await TcpProxy.start({ host: url.hostname, port: Number(url.port) });
    direct = createEtcdClient({ endpoints: [etcd.endpoint] });
    proxied = createEtcdClient({ endpoints: [proxy.endpoint] });
  });
  afterAll(async () => {
    proxied?.close();
    direct?.close();
    await proxy?.close();
    await etcd?.container.stop({ timeout: 1 });
  });

  it('lists, then delivers changes in revision order', async () => {
    const store = new EtcdStore(direct, { prefix: '/order/' });
    await store.applyServices([draft('a')]);
    const informer = store.serviceInformer();
    const events: WatchEvent<Service>[] = [];
    informer.subscribe((e) => events.push(e));
    const stop = new AbortController();
    const running = informer.run(stop.signal);
    try {
      await informer.synced();
      expect(informer.list().map((s) => s.meta.name)).toEqual(['a']);
      await store.applyServices([draft('b'), draft('c')]);
      await store.scaleService('a', 2);
      await store.deleteService('b');
      await vi.waitFor(() => expect(events).toHaveLength(5), { timeout: 10_000 });
      expect(events.map((e) => `${e.type}:${e.key}`)).toEqual(['put:a', 'put:b', 'put:c', 'put:a', 'delete:b']);
      const revisions = events.map((e) => BigInt(e.revision));
      expect([...revisions].sort((x, y) => (x < y ? -1 : x > y ? 1 : 0))).toEqual(revisions);
      expect(informer.get('a')!.spec.replicas).toBe(2);
      expect(informer.get('b')).toBeUndefined();
    } finally {
      stop.abort();
      await running;
    }
  });

  it('re-lists after its revision was compacted while it was cut off, and the cache ends up right', async () => {
    const writer = new EtcdStore(direct, { prefix: '/compact/' });
    const reader = new EtcdStore(proxied, { prefix: '/compact/' });
    await writer.applyServices([draft('a'), draft('b')]);
    const informer = reader.serviceInformer();
    const events: WatchEvent<Service>[] = [];
    informer.subscribe((e) => events.push(e));
    const stop = new AbortController();
    const running = informer.run(stop.signal);
    try {
      await informer.synced();
      proxy!.cut();
      await writer.scaleService('a', 3);
      await writer.deleteService('b');
      await writer.applyServices([draft('c')]);
      const { header } = await direct.kv.range({ key: Buffer.from('/compact/') });
      await direct.kv.compact({ revision: header.revision, physical: true });
      const seenBefore = events.length;
      proxy!.restore();

      await vi.waitFor(
        () => expect(informer.list().map((s) => [s.meta.name, s.spec.replicas]).sort()).toEqual([['a', 3], ['c', 1]]),
        { timeout: 60_000, interval: 200 },
      );
      const diff = events.slice(seenBefore).map((e) => `${e.type}:${e.key}`);
      expect(diff.sort()).toEqual(['delete:b', 'put:a', 'put:c']);

      await writer.applyServices([draft('d')]); // and the new watch delivers what comes after
      await vi.waitFor(() => expect(informer.get('d')).toBeDefined(), { timeout: 30_000 });
      expect(events.at(-1)).toMatchObject({ type: 'put', key: 'd' });
    } finally {
      proxy!.restore();
      stop.abort();
      await running;
    }
  });
});

import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ImagePullError, ImageStore } from '@berth/runtime';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NetnsLab } from '../../e2e/support/netns-lab';
import { requireTools } from '../../support/prereq';
import { buildBusyboxLayout } from './host';
import { startRegistry, type LocalRegistry } from './registry';

const exec = promisify(execFile);
const ready = requireTools(['skopeo', 'umoci', 'busybox', 'docker-registry', 'ip'], { root: true });

describe.runIf(ready)('ImageStore', () => {
  let dir = '';
  let layout = '';
  let registry: LocalRegistry | undefined;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-images-'));
    layout = await buildBusyboxLayout(join(dir, 'busybox-layout'));
    registry = await startRegistry();
    await exec('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', layout, `docker://${registry.address}/busybox:1`]);
  });

  afterAll(async () => {
    await registry?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const store = (name: string, insecure = true) =>
    new ImageStore({ dir: join(dir, name), insecureRegistries: insecure && registry ? [registry.address] : [] });

  it('pulls from a plain-HTTP registry once, unpacks once, and reads the image config', async () => {
    const s = store('pull');
    const ref = `${registry!.address}/busybox:1`;
    const [a, b, c] = await Promise.all([s.pull(ref), s.pull(ref), s.pull(ref)]);
    expect(b).toEqual(a);
    expect(c).toEqual(a);
    expect(a.digest).toMatch(/^sha256:[a-f0-9]{64}$/);
    expect(a.config.cmd).toEqual(['sh']);
    expect(a.config.env.PATH).toContain('/bin');
    expect(existsSync(join(a.rootfs, 'bin/busybox'))).toBe(true);
    expect(await readdir(join(dir, 'pull', 'layouts'))).toHaveLength(1);
    expect(await readdir(join(dir, 'pull', 'rootfs'))).toEqual([a.digest.slice(7)]);

    // The same manifest by digest, and from the local layout: still one unpacked rootfs.
    const byDigest = await s.pull(`${registry!.address}/busybox@${a.digest}`);
    const local = await s.pull(layout);
    expect(byDigest.rootfs).toBe(a.rootfs);
    expect(local.digest).toBe(a.digest);
    expect(await readdir(join(dir, 'pull', 'rootfs'))).toEqual([a.digest.slice(7)]);
  });

  it('a missing image fails with the registry message', async () => {
    const err = await store('missing').pull(`${registry!.address}/nope:1`).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ImagePullError);
    expect((err as Error).message).toMatch(new RegExp(`^pulling image "${registry!.address}/nope:1" failed: .*manifest unknown`));
  });

  it('pulls from a loopback registry over plain HTTP without it being listed, as Docker does', async () => {
    const img = await store('loopback', false).pull(`${registry!.address}/busybox:1`);
    expect(existsSync(join(img.rootfs, 'bin/busybox'))).toBe(true);
  });

  it('talks TLS to a registry off loopback that is not listed as insecure', async () => {
    // A plain-HTTP registry on an address of the test's own bridge: off loopback, still on this machine.
    const lab = await NetnsLab.create({ net: '10.244.0', hosts: 0 });
    const offLoopback = await startRegistry({ host: lab.bridgeAddress }).catch(async (e: unknown) => {
      await lab.destroy();
      throw e;
    });
    try {
      const err = await store('tls', false).pull(`${offLoopback.address}/busybox:1`).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ImagePullError);
      expect((err as Error).message).toMatch(/HTTP response to HTTPS client/);
    } finally {
      await offLoopback.stop();
      await lab.destroy();
    }
  });

  it('removes unused images older than the cutoff, keeping images in use', async () => {
    const s = store('prune');
    const img = await s.pull(layout);
    expect(await s.removeUnused({ olderThanMs: 0, inUse: new Set([img.digest]) })).toEqual([]);
    expect(await s.removeUnused({ olderThanMs: 3_600_000, inUse: new Set() })).toEqual([]);
    expect(existsSync(img.rootfs)).toBe(true);
    expect(await s.removeUnused({ olderThanMs: 0, inUse: new Set() })).toEqual([img.digest]);
    expect(existsSync(img.rootfs)).toBe(false);
    expect(await readdir(join(dir, 'prune', 'layouts'))).toEqual([]);
    // A later pull brings it back.
    expect(existsSync(join((await s.pull(layout)).rootfs, 'bin/sh'))).toBe(true);
  });
});

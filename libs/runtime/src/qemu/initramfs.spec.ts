import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DISK_GUEST_APPLETS, DISK_INIT_SCRIPT } from './disk-init';
import { GUEST_EXEC_SCRIPT } from './guest-exec';
import { GUEST_APPLETS, GUEST_INIT_SCRIPT } from './guest-init';
import { guestInitramfs, moduleLoadOrder, moduleName, staticElfProblem } from './initramfs';

// Shaped like Debian 6.1's modules.dep: each line lists every dependency, nearest first.
const MODULES_DEP = `kernel/drivers/virtio/virtio.ko:
kernel/drivers/virtio/virtio_ring.ko:
kernel/drivers/virtio/virtio_mmio.ko: kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/virtio/virtio_pci_modern_dev.ko:
kernel/drivers/virtio/virtio_pci_legacy_dev.ko:
kernel/drivers/virtio/virtio_pci.ko: kernel/drivers/virtio/virtio_pci_legacy_dev.ko kernel/drivers/virtio/virtio_pci_modern_dev.ko kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
kernel/fs/netfs/netfs.ko:
kernel/fs/fscache/fscache.ko: kernel/fs/netfs/netfs.ko
kernel/net/9p/9pnet.ko:
kernel/net/9p/9pnet_fd.ko: kernel/net/9p/9pnet.ko
kernel/net/9p/9pnet_virtio.ko: kernel/net/9p/9pnet.ko kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
kernel/fs/9p/9p.ko: kernel/net/9p/9pnet.ko kernel/fs/fscache/fscache.ko kernel/fs/netfs/netfs.ko
kernel/drivers/char/virtio_console.ko: kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/net/virtio_net.ko: kernel/drivers/net/net_failover.ko kernel/net/core/failover.ko kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/net/net_failover.ko: kernel/net/core/failover.ko
kernel/net/core/failover.ko:
kernel/drivers/block/virtio_blk.ko: kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
`;
const GUEST = ['virtio_mmio', 'virtio_pci', '9pnet_virtio', '9p', 'virtio_console', 'virtio_net'];
const names = (paths: string[]) => paths.map(moduleName);

/** An ELF64 little-endian header with the given program header types. */
function elf(types: number[]): Buffer {
  const b = Buffer.alloc(64 + 56 * types.length);
  b.writeUInt32BE(0x7f454c46, 0);
  b[4] = 2; // ELFCLASS64
  b[5] = 1; // little endian
  b.writeBigUInt64LE(64n, 0x20); // e_phoff
  b.writeUInt16LE(56, 0x36); // e_phentsize
  b.writeUInt16LE(types.length, 0x38); // e_phnum
  types.forEach((t, i) => b.writeUInt32LE(t, 64 + i * 56));
  return b;
}
const STATIC = elf([1, 1, 4, 7]); // LOAD LOAD NOTE TLS
const DYNAMIC = elf([6, 3, 1, 1, 2]); // PHDR INTERP LOAD LOAD DYNAMIC

describe('module load order', () => {
  it('loads every dependency first, each module once, in the order QEMU boots were verified with', () => {
    const order = moduleLoadOrder(MODULES_DEP, GUEST);
    expect('paths' in order && names(order.paths)).toEqual([
      'virtio_ring', 'virtio', 'virtio_mmio',
      'virtio_pci_modern_dev', 'virtio_pci_legacy_dev', 'virtio_pci',
      '9pnet', '9pnet_virtio',
      'netfs', 'fscache', '9p',
      'virtio_console',
      'failover', 'net_failover', 'virtio_net',
    ]);
    if (!('paths' in order)) return;
    const at = (m: string) => names(order.paths).indexOf(m);
    for (const [m, dep] of [['9p', 'netfs'], ['9p', 'fscache'], ['fscache', 'netfs'], ['virtio_net', 'failover'], ['virtio_mmio', 'virtio_ring'], ['virtio_pci', 'virtio_pci_legacy_dev']]) {
      expect(at(m)).toBeGreaterThan(at(dep!));
    }
  });

  it('leaves out built-in modules and reports missing ones by name', () => {
    const builtin = 'kernel/drivers/virtio/virtio.ko\nkernel/drivers/virtio/virtio_ring.ko\nkernel/drivers/virtio/virtio_mmio.ko\n';
    const order = moduleLoadOrder(MODULES_DEP, ['virtio_mmio', 'virtio_console'], builtin);
    expect('paths' in order && names(order.paths)).toEqual(['virtio_console']);
    expect(moduleLoadOrder(MODULES_DEP.replace(/^kernel\/fs\/netfs.*\n/m, ''), ['9p', 'vsock'])).toEqual({ missing: ['netfs', 'vsock'] });
  });

  it('treats "-" and "_" alike and strips compression suffixes', () => {
    expect(moduleName('kernel/drivers/net/virtio-net.ko.xz')).toBe('virtio_net');
    expect(moduleName('/lib/modules/x/9pnet_virtio.ko.zst')).toBe('9pnet_virtio');
  });
});

describe('static busybox check', () => {
  it('accepts an executable without PT_INTERP and refuses a dynamic or non-ELF one', () => {
    expect(staticElfProblem(STATIC)).toBeUndefined();
    expect(staticElfProblem(DYNAMIC)).toBe('is dynamically linked');
    expect(staticElfProblem(Buffer.from('#!/bin/sh\necho not elf\n'.padEnd(80)))).toBe('is not an ELF executable');
  });
});

describe('guestInitramfs', () => {
  let root = '';
  let modulesDir = '';
  let cacheDir = '';
  let busybox = '';
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'berth-initramfs-'));
    modulesDir = join(root, 'lib/modules/6.1.0-test');
    cacheDir = join(root, 'cache');
    busybox = join(root, 'busybox');
    await writeFile(busybox, STATIC);
    await mkdir(modulesDir, { recursive: true });
    // virtio_console is shipped gzip-compressed: the archive must carry it decompressed.
    const dep = MODULES_DEP.replace(/virtio_console\.ko:/, 'virtio_console.ko.gz:');
    await writeFile(join(modulesDir, 'modules.dep'), dep);
    for (const line of dep.split('\n').filter(Boolean)) {
      const rel = line.slice(0, line.indexOf(':'));
      await mkdir(join(modulesDir, rel, '..'), { recursive: true });
      const body = Buffer.from(`module ${moduleName(rel)}\n`);
      await writeFile(join(modulesDir, rel), rel.endsWith('.gz') ? gzipSync(body) : body);
    }
  });
  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });
  const kernel = () => ({ path: '/boot/vmlinuz-6.1.0-test', version: '6.1.0-test', modulesDir });

  it('holds /init, berth-exec, a busybox with applet links, and the modules in load order', async () => {
    const path = await guestInitramfs(kernel(), cacheDir, { busybox });
    expect(path).toMatch(new RegExp(`^${cacheDir}/initramfs-6\\.1\\.0-test-[0-9a-f]{12}\\.cpio$`));
    const archive = await readFile(path);
    const listing = execFileSync('cpio', ['-t', '--quiet'], { input: archive }).toString().trim().split('\n');
    expect(listing).toEqual(expect.arrayContaining(['init', 'bin/busybox', 'dev/console', 'modules.order', 'newroot', 'berth', 'lib/modules/9p.ko', 'lib/modules/virtio_console.ko']));
    expect(listing).toEqual(expect.arrayContaining(GUEST_APPLETS.map((a) => `bin/${a}`)));
    expect(listing).not.toContain('lib/modules/virtio_blk.ko');

    const out = join(root, 'out');
    await mkdir(out);
    execFileSync('cpio', ['-i', '-d', '--quiet', 'init', 'bin/berth-exec', 'modules.order', 'bin/busybox', 'bin/sh', 'lib/modules/virtio_console.ko'], { input: archive, cwd: out });
    expect(await readFile(join(out, 'init'), 'utf8')).toBe(GUEST_INIT_SCRIPT);
    expect(((await stat(join(out, 'init'))).mode & 0o777).toString(8)).toBe('755');
    expect(await readFile(join(out, 'bin/berth-exec'), 'utf8')).toBe(GUEST_EXEC_SCRIPT);
    expect(((await stat(join(out, 'bin/berth-exec'))).mode & 0o777).toString(8)).toBe('755');
    expect(await readFile(join(out, 'bin/busybox'))).toEqual(STATIC);
    expect(await readFile(join(out, 'lib/modules/virtio_console.ko'), 'utf8')).toBe('module virtio_console\n');
    expect((await readFile(join(out, 'modules.order'), 'utf8')).trim().split('\n')).toEqual(
      ['virtio_ring', 'virtio', 'virtio_mmio', 'virtio_pci_modern_dev', 'virtio_pci_legacy_dev', 'virtio_pci', '9pnet', '9pnet_virtio', 'netfs', 'fscache', '9p', 'virtio_console', 'failover', 'net_failover', 'virtio_net'].map((m) => `/lib/modules/${m}.ko`),
    );
  });

  it('in disk mode holds the disk-root init, its applets and the disk, ext4 and power-button modules, and no berth-exec', async () => {
    const extra = `kernel/crypto/crc32c_generic.ko:
kernel/lib/crc16.ko:
kernel/fs/mbcache.ko:
kernel/fs/jbd2/jbd2.ko:
kernel/fs/ext4/ext4.ko: kernel/lib/crc16.ko kernel/fs/mbcache.ko kernel/fs/jbd2/jbd2.ko
kernel/drivers/acpi/button.ko:
kernel/drivers/input/evdev.ko:
`;
    const dep = await readFile(join(modulesDir, 'modules.dep'), 'utf8');
    await writeFile(join(modulesDir, 'modules.dep'), dep + extra);
    for (const line of extra.split('\n').filter(Boolean)) {
      const rel = line.slice(0, line.indexOf(':'));
      await mkdir(join(modulesDir, rel, '..'), { recursive: true });
      await writeFile(join(modulesDir, rel), `module ${moduleName(rel)}\n`);
    }
    const path = await guestInitramfs(kernel(), cacheDir, { busybox, root: 'disk' });
    expect(path).not.toBe(await guestInitramfs(kernel(), cacheDir, { busybox }));
    const archive = await readFile(path);
    const listing = execFileSync('cpio', ['-t', '--quiet'], { input: archive }).toString().trim().split('\n');
    expect(listing).toEqual(expect.arrayContaining(DISK_GUEST_APPLETS.map((a) => `bin/${a}`)));
    expect(listing).not.toContain('bin/berth-exec');
    const out = join(root, 'out');
    await mkdir(out);
    execFileSync('cpio', ['-i', '-d', '--quiet', 'init', 'modules.order'], { input: archive, cwd: out });
    expect(await readFile(join(out, 'init'), 'utf8')).toBe(DISK_INIT_SCRIPT);
    expect((await readFile(join(out, 'modules.order'), 'utf8')).trim().split('\n')).toEqual(
      ['virtio_ring', 'virtio', 'virtio_mmio', 'virtio_blk', 'failover', 'net_failover', 'virtio_net', 'crc32c_generic', 'jbd2', 'mbcache', 'crc16', 'ext4', 'button', 'evdev'].map((m) => `/lib/modules/${m}.ko`),
    );
  });

  it('is built once: the same inputs give the same file, a new busybox a new one', async () => {
    const first = await guestInitramfs(kernel(), cacheDir, { busybox });
    const mtime = (await stat(first)).mtimeMs;
    expect(await guestInitramfs(kernel(), cacheDir, { busybox })).toBe(first);
    expect((await stat(first)).mtimeMs).toBe(mtime);
    await writeFile(busybox, Buffer.concat([STATIC, Buffer.from('v2')]));
    const second = await guestInitramfs(kernel(), cacheDir, { busybox });
    expect(second).not.toBe(first);
    expect((await readdir(cacheDir)).sort()).toEqual([first, second].map((p) => p.slice(cacheDir.length + 1)).sort());
  });

  it('refuses a dynamically linked busybox and a kernel without the needed modules', async () => {
    await writeFile(busybox, DYNAMIC);
    await expect(guestInitramfs(kernel(), cacheDir, { busybox })).rejects.toThrow(/guest busybox: .*busybox is dynamically linked; .*install busybox-static/);
    await writeFile(busybox, STATIC);
    await writeFile(join(modulesDir, 'modules.dep'), MODULES_DEP.replace(/^kernel\/drivers\/net\/virtio_net.*\n/m, ''));
    await expect(guestInitramfs(kernel(), cacheDir, { busybox })).rejects.toThrow(/kernel 6\.1\.0-test has no module virtio_net /);
  });
});

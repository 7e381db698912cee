import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, isAbsolute, join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { TaskSpecError } from '../errors';
import { writeNewc, type CpioEntry } from './cpio';
import { DISK_GUEST_APPLETS, DISK_GUEST_MODULES, DISK_INIT_SCRIPT } from './disk-init';
import { GUEST_EXEC_SCRIPT } from './guest-exec';
import { GUEST_APPLETS, GUEST_INIT_SCRIPT } from './guest-init';
import type { GuestKernel } from './kernel';

/**
 * The drivers the guest needs, by module name: virtio-mmio (microvm's bus), virtio-pci (the exec
 * ports' controller, see qemuArgs), the 9p file system over virtio, virtio-serial ports and the
 * virtio NIC. Dependencies come from modules.dep.
 */
export const GUEST_MODULES = ['virtio_mmio', 'virtio_pci', '9pnet_virtio', '9p', 'virtio_console', 'virtio_net'] as const;

/**
 * What the initramfs boots into: '9p' runs an OCI image's workload over a 9p root (guest-init.ts);
 * 'disk' mounts a `vm.disk` and hands over to the image's own init (disk-init.ts).
 */
export type GuestRoot = '9p' | 'disk';

export const DEFAULT_BUSYBOX = '/usr/bin/busybox';
const MODULE_FILE = /\.ko(\.gz|\.xz|\.zst)?$/;

/**
 * The guest's initramfs for `kernel`: an uncompressed newc cpio with /init (GUEST_INIT_SCRIPT)
 * and /bin/berth-exec (GUEST_EXEC_SCRIPT), a static /bin/busybox (from `opts.busybox`, default
 * /usr/bin/busybox; a dynamically linked one is refused) with links for the applets the scripts
 * use, and the modules of GUEST_MODULES with their dependencies under /lib/modules, listed in
 * load order in /modules.order.
 *
 * Content-addressed: the file is `<cacheDir>/initramfs-<version>-<hash12>.cpio`, the hash over
 * the archive's bytes, so a new kernel, init script or busybox gives a new file and an existing
 * one is reused as is. Written to a temporary name and renamed, so concurrent callers and a
 * crash never leave a torn archive. Throws TaskSpecError when busybox or a module is unusable.
 * With `opts.root` 'disk' the archive holds DISK_INIT_SCRIPT, its applets and DISK_GUEST_MODULES instead.
 */
export async function guestInitramfs(kernel: GuestKernel, cacheDir: string, opts: { busybox?: string; root?: GuestRoot } = {}): Promise<string> {
  const archive = writeNewc(await initramfsEntries(kernel, opts.busybox ?? DEFAULT_BUSYBOX, opts.root ?? '9p'));
  const hash = createHash('sha256').update(archive).digest('hex').slice(0, 12);
  const path = join(cacheDir, `initramfs-${kernel.version}-${hash}.cpio`);
  if (await exists(path)) return path;
  await mkdir(cacheDir, { recursive: true });
  const tmp = `${path}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    await writeFile(tmp, archive, { mode: 0o644 });
    await rename(tmp, path);
  } finally {
    await rm(tmp, { force: true });
  }
  return path;
}

async function initramfsEntries(kernel: GuestKernel, busyboxPath: string, root: GuestRoot): Promise<CpioEntry[]> {
  const busybox = await readFile(busyboxPath).catch(() => {
    throw busyboxError(`${busyboxPath} cannot be read (install busybox-static)`);
  });
  const problem = staticElfProblem(busybox);
  if (problem) throw busyboxError(`${busyboxPath} ${problem}; the guest has no libraries (install busybox-static)`);

  const disk = root === 'disk';
  const modules = await guestModules(kernel, disk ? DISK_GUEST_MODULES : GUEST_MODULES);
  const entries: CpioEntry[] = ['bin', 'dev', 'proc', 'sys', 'run', 'tmp', 'newroot', 'berth', 'lib', 'lib/modules'].map((path) => ({ kind: 'dir', path }));
  entries.push(
    // The kernel opens /dev/console for /init before anything is mounted.
    { kind: 'chardev', path: 'dev/console', major: 5, minor: 1 },
    { kind: 'chardev', path: 'dev/null', major: 1, minor: 3, mode: 0o666 },
    { kind: 'file', path: 'bin/busybox', data: busybox, mode: 0o755 },
    ...(disk ? DISK_GUEST_APPLETS : GUEST_APPLETS).map((a): CpioEntry => ({ kind: 'symlink', path: `bin/${a}`, target: 'busybox' })),
    ...modules.map((m): CpioEntry => ({ kind: 'file', path: `lib/modules/${m.name}.ko`, data: m.data })),
    { kind: 'file', path: 'modules.order', data: Buffer.from(modules.map((m) => `/lib/modules/${m.name}.ko\n`).join('')) },
    { kind: 'file', path: 'init', data: Buffer.from(disk ? DISK_INIT_SCRIPT : GUEST_INIT_SCRIPT), mode: 0o755 },
  );
  if (!disk) entries.push({ kind: 'file', path: 'bin/berth-exec', data: Buffer.from(GUEST_EXEC_SCRIPT), mode: 0o755 });
  return entries;
}

async function guestModules(kernel: GuestKernel, wanted: readonly string[]): Promise<{ name: string; data: Buffer }[]> {
  const depPath = join(kernel.modulesDir, 'modules.dep');
  const dep = await readFile(depPath, 'utf8').catch(() => {
    throw new TaskSpecError('-', `kernel ${kernel.version}: ${depPath} cannot be read (run depmod ${kernel.version})`);
  });
  const builtin = await readFile(join(kernel.modulesDir, 'modules.builtin'), 'utf8').catch(() => '');
  const order = moduleLoadOrder(dep, wanted, builtin);
  if ('missing' in order) {
    throw new TaskSpecError('-', `kernel ${kernel.version} has no module ${order.missing.join(', ')} (not in ${depPath}, not built in): the guest needs ${wanted.join(', ')}`);
  }
  return Promise.all(order.paths.map(async (rel) => ({ name: moduleName(rel), data: await readModule(isAbsolute(rel) ? rel : join(kernel.modulesDir, rel)) })));
}

/** "kernel/net/9p/9pnet_virtio.ko.xz" → "9pnet_virtio" (modprobe treats "-" and "_" alike). */
export function moduleName(path: string): string {
  return basename(path).replace(MODULE_FILE, '').replace(/-/g, '_');
}

/**
 * The module files to insmod, in order, for `wanted` (names): each module after everything it
 * depends on, each once. `dep` is a modules.dep (`path: dep-path dep-path…`); modules listed in
 * `builtin` (modules.builtin) need no file and are left out. Pure.
 */
export function moduleLoadOrder(dep: string, wanted: readonly string[], builtin = ''): { paths: string[] } | { missing: string[] } {
  const deps = new Map<string, { path: string; deps: string[] }>();
  for (const line of dep.split('\n')) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const path = line.slice(0, colon).trim();
    deps.set(moduleName(path), { path, deps: line.slice(colon + 1).trim().split(/\s+/).filter(Boolean) });
  }
  const builtins = new Set(builtin.split('\n').filter(Boolean).map(moduleName));
  const paths: string[] = [];
  const done = new Set<string>();
  const missing = new Set<string>();
  const visit = (name: string, chain: readonly string[]): void => {
    if (done.has(name) || builtins.has(name)) return;
    const entry = deps.get(name);
    if (!entry) {
      missing.add(name);
      return;
    }
    if (chain.includes(name)) return; // a cycle in modules.dep: depmod never writes one
    // depmod lists dependencies nearest first; load from the far end.
    for (const d of [...entry.deps].reverse()) visit(moduleName(d), [...chain, name]);
    done.add(name);
    paths.push(entry.path);
  };
  for (const name of wanted) visit(name.replace(/-/g, '_'), []);
  return missing.size > 0 ? { missing: [...missing] } : { paths };
}

/**
 * Why `elf` cannot run without a dynamic loader, or undefined when it can: not ELF, or it has a
 * PT_INTERP program header (static-pie binaries have none and are fine).
 */
export function staticElfProblem(elf: Buffer): string | undefined {
  if (elf.length < 52 || elf.readUInt32BE(0) !== 0x7f454c46) return 'is not an ELF executable';
  const is64 = elf[4] === 2;
  const le = elf[5] === 1;
  const u16 = (at: number) => (le ? elf.readUInt16LE(at) : elf.readUInt16BE(at));
  const u32 = (at: number) => (le ? elf.readUInt32LE(at) : elf.readUInt32BE(at));
  const phoff = is64 ? Number(le ? elf.readBigUInt64LE(0x20) : elf.readBigUInt64BE(0x20)) : u32(0x1c);
  const phentsize = u16(is64 ? 0x36 : 0x2a);
  const phnum = u16(is64 ? 0x38 : 0x2c);
  for (let i = 0; i < phnum; i++) {
    const at = phoff + i * phentsize;
    if (at + 4 > elf.length) return 'is a truncated ELF file';
    if (u32(at) === 3 /* PT_INTERP */) return 'is dynamically linked';
  }
  return undefined;
}

// busybox's insmod takes uncompressed modules only when built without the seamless
// decompressors; decompress on the host so any busybox works.
async function readModule(path: string): Promise<Buffer> {
  const data = await readFile(path).catch(() => {
    throw new TaskSpecError('-', `kernel module ${path} listed in modules.dep cannot be read (reinstall the kernel's modules)`);
  });
  if (path.endsWith('.gz')) return gunzipSync(data);
  if (path.endsWith('.xz')) return decompress('xz', path);
  if (path.endsWith('.zst')) return decompress('zstd', path);
  return data;
}

function decompress(tool: 'xz' | 'zstd', path: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    execFile(tool, ['-dc', path], { encoding: 'buffer', maxBuffer: 64 * 1024 * 1024, timeout: 30_000 }, (error, stdout) => {
      if (error) reject(new TaskSpecError('-', `kernel module ${path} is ${tool}-compressed and \`${tool} -dc\` failed: ${error.message} (install ${tool})`));
      else resolve(stdout);
    });
  });
}

async function exists(path: string): Promise<boolean> {
  return (await stat(path).catch(() => undefined))?.isFile() ?? false;
}

function busyboxError(reason: string): TaskSpecError {
  return new TaskSpecError('-', `guest busybox: ${reason}`);
}

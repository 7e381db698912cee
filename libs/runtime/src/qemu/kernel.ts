import { open, readdir, stat } from 'node:fs/promises';
import { basename, isAbsolute, join } from 'node:path';
import { TaskSpecError } from '../errors';

/** A kernel a guest can boot, with the host directory holding its modules. */
export interface GuestKernel {
  /** The kernel image (bzImage) handed to `qemu -kernel`. */
  readonly path: string;
  /** Its release string, as `uname -r` reports it inside the guest ("6.1.0-57-amd64"). */
  readonly version: string;
  /** `/lib/modules/<version>` on the host; the initramfs takes the guest's modules from here. */
  readonly modulesDir: string;
}

const DEFAULT_BOOT = '/boot';
const DEFAULT_MODULES = '/lib/modules';
const NAMED_IMAGE = /^(?:vmlinuz|vmlinux|bzImage|kernel)-(.+)$/;

/**
 * The kernel a `runtime: vm` task boots. `spec` is the manifest's `vm.kernel`:
 * - undefined → the newest `<boot>/vmlinuz-<version>` whose `<modules>/<version>` exists (the
 *   version comes from the file name; never from `uname -r`, the host may run another kernel);
 * - an absolute path → that kernel; its version from the file name or, failing that, from the
 *   version string of its bzImage setup header.
 * `opts.boot` / `opts.modules` replace `/boot` and `/lib/modules` (tests use fixture trees).
 * Read-only; throws TaskSpecError saying what is missing and what to do.
 */
export async function resolveKernel(spec?: string, opts: { boot?: string; modules?: string } = {}): Promise<GuestKernel> {
  const modulesRoot = opts.modules ?? DEFAULT_MODULES;
  if (spec === undefined) return newestKernel(opts.boot ?? DEFAULT_BOOT, modulesRoot);
  if (!isAbsolute(spec)) throw kernelError(`vm.kernel must be an absolute path to a kernel image (got "${spec}")`);
  const info = await stat(spec).catch(() => undefined);
  if (!info?.isFile()) throw kernelError(`vm.kernel ${spec} does not exist or is not a file`);
  const version = NAMED_IMAGE.exec(basename(spec))?.[1] ?? (await bzImageVersion(spec));
  if (!version) {
    throw kernelError(`cannot tell the version of kernel ${spec}: name it vmlinuz-<version> or give a bzImage (it has no version string)`);
  }
  const modulesDir = join(modulesRoot, version);
  if (!(await isDirectory(modulesDir))) {
    throw kernelError(`kernel ${spec} is version ${version}, but ${modulesDir} does not exist: install that kernel's modules (the guest loads virtio and 9p from them)`);
  }
  return { path: spec, version, modulesDir };
}

async function newestKernel(boot: string, modulesRoot: string): Promise<GuestKernel> {
  const names = await readdir(boot).catch(() => [] as string[]);
  const candidates = names
    .map((name) => ({ name, version: /^vmlinuz-(.+)$/.exec(name)?.[1] }))
    .filter((c): c is { name: string; version: string } => c.version !== undefined)
    .sort((a, b) => compareVersions(b.version, a.version));
  if (candidates.length === 0) {
    throw kernelError(`no kernel for vm tasks: ${boot} has no vmlinuz-* (install linux-image-amd64, or set vm.kernel)`);
  }
  for (const c of candidates) {
    const modulesDir = join(modulesRoot, c.version);
    if (await isDirectory(modulesDir)) return { path: join(boot, c.name), version: c.version, modulesDir };
  }
  const listed = candidates.map((c) => c.name).join(', ');
  throw kernelError(`no kernel for vm tasks: none of ${listed} in ${boot} has its modules under ${modulesRoot} (reinstall the kernel package, or set vm.kernel)`);
}

/**
 * The release from a bzImage's setup header: "HdrS" at 0x202, and at 0x20E a pointer (relative to
 * 0x200) to a NUL-terminated string whose first word is the release. Undefined for anything else.
 */
export async function bzImageVersion(path: string): Promise<string | undefined> {
  const file = await open(path, 'r');
  try {
    const setup = Buffer.alloc(0x210);
    const { bytesRead } = await file.read(setup, 0, setup.length, 0);
    if (bytesRead < setup.length || setup.toString('latin1', 0x202, 0x206) !== 'HdrS') return undefined;
    const pointer = setup.readUInt16LE(0x20e);
    if (pointer === 0) return undefined;
    const text = Buffer.alloc(256);
    const read = await file.read(text, 0, text.length, pointer + 0x200);
    const raw = text.subarray(0, read.bytesRead).toString('latin1');
    const release = raw.slice(0, raw.indexOf('\0') < 0 ? raw.length : raw.indexOf('\0')).split(' ')[0];
    return release && /^[\w.+~-]+$/.test(release) ? release : undefined;
  } finally {
    await file.close();
  }
}

/** Orders release strings by their numeric parts first ("6.10.1" > "6.9.12"), then as text. */
export function compareVersions(a: string, b: string): number {
  const pa = a.split(/(\d+)/);
  const pb = b.split(/(\d+)/);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = pa[i] ?? '';
    const y = pb[i] ?? '';
    if (x === y) continue;
    const bothNumbers = /^\d+$/.test(x) && /^\d+$/.test(y);
    if (bothNumbers) return Number(x) - Number(y);
    return x < y ? -1 : 1;
  }
  return 0;
}

async function isDirectory(path: string): Promise<boolean> {
  return (await stat(path).catch(() => undefined))?.isDirectory() ?? false;
}

// The kernel is chosen per node, before any task is known: the error names no task.
function kernelError(reason: string): TaskSpecError {
  return new TaskSpecError('-', reason);
}

import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, readdir, readlink, rm, rmdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import type { CniNetwork } from '@berth/runtime';

const exec = promisify(execFile);
// vitest runs from the repository root (where vitest.config.mts is).
export const repoRoot = process.cwd();

/** Builds the busybox OCI layout with the deploy script; returns `oci:<dir>:<tag>`. */
export async function buildBusyboxLayout(dir: string, tag = '1'): Promise<string> {
  await exec(join(repoRoot, 'deploy/build-busybox-oci.sh'), [dir, tag]);
  return `oci:${dir}:${tag}`;
}

/** Mount points at or below `dir`. */
export async function mountsUnder(dir: string): Promise<string[]> {
  const info = await readFile('/proc/self/mountinfo', 'utf8');
  return info
    .split('\n')
    .map((l) => l.split(' ')[4])
    .filter((p): p is string => !!p && (p === dir || p.startsWith(`${dir}/`)));
}

/** Every cgroup directory named `rel` (e.g. `/berth/<node>/<task>`) in any mounted hierarchy. */
export async function cgroupDirsNamed(rel: string): Promise<string[]> {
  const info = await readFile('/proc/self/mountinfo', 'utf8');
  const points = info
    .split('\n')
    .filter((l) => / - cgroup2? /.test(l))
    .map((l) => l.split(' ')[4]!);
  return points.map((p) => join(p, rel)).filter((d) => existsSync(d));
}

/** The memory limit of `pid`'s cgroup, read from the kernel's files (v1 or v2). */
export async function memoryLimitOf(pid: number): Promise<number> {
  const lines = (await readFile(`/proc/${pid}/cgroup`, 'utf8')).split('\n');
  const v1 = lines.find((l) => l.split(':')[1]?.split(',').includes('memory'));
  if (v1) return Number((await readFile(join('/sys/fs/cgroup/memory', v1.split(':')[2]!, 'memory.limit_in_bytes'), 'utf8')).trim());
  const v2 = lines.find((l) => l.startsWith('0::'))!;
  return Number((await readFile(join('/sys/fs/cgroup', v2.slice(3), 'memory.max'), 'utf8')).trim());
}

/** The command lines of every process in the pid namespace of `pid` (a task's init), from /proc. */
export async function processesInNamespaceOf(pid: number): Promise<string[]> {
  const ns = await readlink(`/proc/${pid}/ns/pid`);
  const out: string[] = [];
  for (const entry of (await readdir('/proc')).filter((e) => /^\d+$/.test(e))) {
    if ((await readlink(`/proc/${entry}/ns/pid`).catch(() => '')) !== ns) continue;
    const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    if (cmdline) out.push(cmdline.split('\0').filter(Boolean).join(' '));
  }
  return out;
}

/** QEMU processes (not zombies) with a path below `dir` on their command line. */
export function qemusUnder(dir: string): Promise<{ pid: number; cmdline: string }[]> {
  return processesUnder(dir, 'qemu-system');
}

/** The DHCP servers of VMs booted by their own bootloader (busybox udhcpd with a config under `dir`). */
export function dhcpServersUnder(dir: string): Promise<{ pid: number; cmdline: string }[]> {
  return processesUnder(dir, 'udhcpd');
}

/** Live (not zombie) processes whose command line names `program` and a path under `dir`. */
async function processesUnder(dir: string, program: string): Promise<{ pid: number; cmdline: string }[]> {
  const out: { pid: number; cmdline: string }[] = [];
  for (const entry of (await readdir('/proc')).filter((e) => /^\d+$/.test(e))) {
    const cmdline = (await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '')).split('\0').join(' ');
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '');
    const zombie = stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
    if (cmdline.includes(program) && cmdline.includes(`${dir}/`) && !zombie) out.push({ pid: Number(entry), cmdline });
  }
  return out;
}

/** Removes what a test run left of a node: QEMU processes and their DHCP servers, runc containers, mounts, network, cgroups, dirs. */
export async function cleanUpNode(o: { runcRoot: string; node: string; dataDir: string; network?: CniNetwork }): Promise<void> {
  for (const { pid } of [...(await qemusUnder(o.dataDir)), ...(await dhcpServersUnder(o.dataDir))]) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
  const list = await exec('runc', ['--root', o.runcRoot, 'list', '-q']).catch(() => ({ stdout: '' }));
  for (const id of list.stdout.split('\n').filter(Boolean)) await exec('runc', ['--root', o.runcRoot, 'delete', '--force', id]).catch(() => undefined);
  for (const m of (await mountsUnder(o.dataDir)).reverse()) await exec('umount', ['-l', m]).catch(() => undefined);
  // The roots of user-namespaced tasks (RuncDriver's default userNamespaceRoots), then their top dir if no other node's are left in it.
  const userns = `/run/berth-userns/${o.node}`;
  for (const m of (await mountsUnder(userns)).reverse()) await exec('umount', ['-l', m]).catch(() => undefined);
  if (existsSync(userns)) await rm(userns, { recursive: true, force: true });
  await rmdir('/run/berth-userns').catch(() => undefined);
  await o.network?.destroyNode();
  for (const dir of await cgroupDirsNamed(`/berth/${o.node}`)) {
    for (const child of await readdir(dir, { withFileTypes: true })) {
      if (child.isDirectory()) await rmdir(join(dir, child.name)).catch(() => undefined);
    }
    await rmdir(dir).catch(() => undefined);
    await rmdir(resolve(dir, '..')).catch(() => undefined); // /berth itself, only when empty
  }
  await rm(o.dataDir, { recursive: true, force: true });
}

import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { CgroupLayout } from '../runc/cgroups';
import { CPU_PERIOD_US } from '../runc/oci-spec';
import { QEMU_MEMORY_OVERHEAD_MIB, type VmLaunch } from './qemu-args';

const MiB = 1024 * 1024;

/** v1 controllers the VM's cgroup is made in: the limits' and those readCgroupStats reads. */
const V1_CONTROLLERS = ['memory', 'cpu', 'cpuacct', 'pids'] as const;

/** The cgroup directories of a VM: one per v1 hierarchy it uses when memory is on v1, else the v2 one. Pure. */
export function vmCgroupDirs(layout: CgroupLayout, cgroupsPath: string): string[] {
  if (!layout.v1.has('memory')) return layout.unified ? [join(layout.unified, cgroupsPath)] : [];
  const mounts = new Set(V1_CONTROLLERS.map((c) => layout.v1.get(c)).filter((m): m is string => m !== undefined));
  return [...mounts].map((m) => join(m, cgroupsPath));
}

/** `sh -c` script: writes its own pid into each cgroup.procs file given before `--`, then execs the rest. */
const ENTER_CGROUPS_AND_EXEC = 'while [ "$1" != -- ]; do echo $$ > "$1" || exit 125; shift; done; shift; exec "$@"';

/**
 * `sh` arguments that move the shell into the VM's cgroup and then exec `command`, so every
 * thread QEMU starts is accounted there from its first instruction. Pure.
 */
export function inVmCgroup(layout: CgroupLayout, cgroupsPath: string, command: readonly string[]): string[] {
  const procs = vmCgroupDirs(layout, cgroupsPath).map((d) => join(d, 'cgroup.procs'));
  return ['-c', ENTER_CGROUPS_AND_EXEC, 'berth-vm', ...procs, '--', ...command];
}

/** Creates the VM's cgroup with its memory limit (guest RAM + QEMU's overhead) and CPU quota. Idempotent. */
export async function makeVmCgroup(layout: CgroupLayout, cgroupsPath: string, l: VmLaunch): Promise<void> {
  const memory = (l.memoryMiB + QEMU_MEMORY_OVERHEAD_MIB) * MiB;
  // The kernel refuses quotas under 1 ms per period.
  const quota = l.cpuMillis === undefined ? undefined : Math.max(1000, Math.round((l.cpuMillis * CPU_PERIOD_US) / 1000));
  const dirs = vmCgroupDirs(layout, cgroupsPath);
  if (dirs.length === 0) throw new Error('no cgroup hierarchy holds the memory controller');
  for (const d of dirs) await mkdir(d, { recursive: true });
  if (layout.v1.has('memory')) {
    await writeFile(join(layout.v1.get('memory')!, cgroupsPath, 'memory.limit_in_bytes'), String(memory));
    const cpu = layout.v1.get('cpu');
    if (quota !== undefined && cpu) {
      await writeFile(join(cpu, cgroupsPath, 'cpu.cfs_period_us'), String(CPU_PERIOD_US));
      await writeFile(join(cpu, cgroupsPath, 'cpu.cfs_quota_us'), String(quota));
    }
    return;
  }
  // v2: a controller's files exist in a cgroup only once every ancestor delegates it.
  const unified = layout.unified!;
  const parts = cgroupsPath.split('/').filter(Boolean);
  for (let i = 0; i < parts.length; i++) {
    const control = join(unified, ...parts.slice(0, i), 'cgroup.subtree_control');
    for (const c of ['+memory', '+cpu', '+pids']) await writeFile(control, c).catch(() => undefined);
  }
  const dir = join(unified, cgroupsPath);
  await writeFile(join(dir, 'memory.max'), String(memory));
  if (quota !== undefined) await writeFile(join(dir, 'cpu.max'), `${quota} ${CPU_PERIOD_US}`);
}

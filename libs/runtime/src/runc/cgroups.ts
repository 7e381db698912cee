import { readFile, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { TaskStats } from '../driver';

/** Where the cgroup hierarchies are mounted on this host. */
export interface CgroupLayout {
  /** v1 controller (or `name=…` hierarchy) → mount point; empty on a pure v2 host. */
  readonly v1: ReadonlyMap<string, string>;
  /** The cgroup2 mount: the only hierarchy on v2 hosts, the `unified` one on hybrid hosts. */
  readonly unified?: string;
}

/** Reads cgroup mounts out of a /proc/self/mountinfo text. Pure. */
export function parseCgroupLayout(mountinfo: string): CgroupLayout {
  const v1 = new Map<string, string>();
  let unified: string | undefined;
  for (const line of mountinfo.split('\n')) {
    const [pre, post] = line.split(' - ');
    if (!pre || !post) continue;
    const point = pre.split(' ')[4]!;
    const [fstype, , superOpts = ''] = post.split(' ');
    if (fstype === 'cgroup2') unified = point;
    if (fstype !== 'cgroup') continue;
    for (const opt of superOpts.split(',')) {
      if (opt !== 'rw' && opt !== 'ro' && !opt.startsWith('release_agent') && opt !== 'clone_children') v1.set(opt, point);
    }
  }
  return { v1, unified };
}

export async function hostCgroupLayout(): Promise<CgroupLayout> {
  return parseCgroupLayout(await readFile('/proc/self/mountinfo', 'utf8'));
}

/** Every directory runc may create for `cgroupsPath`, deepest hierarchy entries first. Pure. */
export function cgroupDirs(layout: CgroupLayout, cgroupsPath: string): string[] {
  const points = new Set([...layout.v1.values(), ...(layout.unified ? [layout.unified] : [])]);
  return [...points].map((p) => join(p, cgroupsPath));
}

/** Removes the task's cgroup directories left behind (runc delete normally does it). Idempotent. */
export async function removeCgroup(layout: CgroupLayout, cgroupsPath: string): Promise<void> {
  for (const dir of cgroupDirs(layout, cgroupsPath)) {
    await rmdir(dir).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== 'ENOENT') throw e;
    });
  }
}

/** Usage of the cgroup at `cgroupsPath`, from v1 files when the memory controller is on v1, else v2. */
export async function readCgroupStats(layout: CgroupLayout, cgroupsPath: string): Promise<TaskStats> {
  const memory = layout.v1.get('memory');
  if (memory) {
    const mem = join(memory, cgroupsPath);
    const usage = await readNumber(join(mem, 'memory.usage_in_bytes'));
    const stat = parseKeyValues(await readFile(join(mem, 'memory.stat'), 'utf8'));
    const limit = await readNumber(join(mem, 'memory.limit_in_bytes'));
    const cpuNs = await readNumber(join(layout.v1.get('cpuacct')!, cgroupsPath, 'cpuacct.usage'));
    const pids = await readNumber(join(layout.v1.get('pids')!, cgroupsPath, 'pids.current'));
    return {
      cpuUsageSeconds: cpuNs / 1e9,
      memoryUsageBytes: usage,
      memoryWorkingSetBytes: Math.max(0, usage - (stat.get('total_inactive_file') ?? 0)),
      // v1 reports "unlimited" as a huge page-aligned number.
      memoryLimitBytes: limit >= 2 ** 62 ? undefined : limit,
      pids,
    };
  }
  const dir = join(layout.unified!, cgroupsPath);
  const usage = await readNumber(join(dir, 'memory.current'));
  const stat = parseKeyValues(await readFile(join(dir, 'memory.stat'), 'utf8'));
  const max = (await readFile(join(dir, 'memory.max'), 'utf8')).trim();
  const cpu = parseKeyValues(await readFile(join(dir, 'cpu.stat'), 'utf8'));
  return {
    cpuUsageSeconds: (cpu.get('usage_usec') ?? 0) / 1e6,
    memoryUsageBytes: usage,
    memoryWorkingSetBytes: Math.max(0, usage - (stat.get('inactive_file') ?? 0)),
    memoryLimitBytes: max === 'max' ? undefined : Number(max),
    pids: await readNumber(join(dir, 'pids.current')),
  };
}

/** `key value` lines (memory.stat, cpu.stat). Pure. */
export function parseKeyValues(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const [k, v] = line.split(' ');
    if (k && v !== undefined) out.set(k, Number(v));
  }
  return out;
}

async function readNumber(path: string): Promise<number> {
  return Number((await readFile(path, 'utf8')).trim());
}

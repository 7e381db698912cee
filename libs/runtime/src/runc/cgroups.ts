import { readFileSync } from 'node:fs';
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

/**
 * Usage of the cgroup at `cgroupsPath`, from v1 files when the memory controller is on v1, else
 * v2. Reads each file once. Throws when the cgroup is gone; files only some kernels or controller
 * setups have (throttling, quota, OOM kill counts) count as zero or unlimited when missing.
 */
export async function readCgroupStats(layout: CgroupLayout, cgroupsPath: string): Promise<TaskStats> {
  return layout.v1.has('memory') ? readV1Stats(layout, cgroupsPath) : readV2Stats(layout, cgroupsPath);
}

async function readV1Stats(layout: CgroupLayout, cgroupsPath: string): Promise<TaskStats> {
  const file = (controller: string, name: string): string => {
    const mount = layout.v1.get(controller);
    if (!mount) throw new Error(`no cgroup v1 hierarchy holds the ${controller} controller`);
    return join(mount, cgroupsPath, name);
  };
  const [usage, stat, limit, oomControl, cpuNs, cpuStat, quota, period, pids] = await Promise.all([
    readNumber(file('memory', 'memory.usage_in_bytes')),
    readPseudoFile(file('memory', 'memory.stat')),
    readNumber(file('memory', 'memory.limit_in_bytes')),
    // oom_kill is in memory.oom_control since Linux 4.13.
    readOptional(file('memory', 'memory.oom_control')),
    readNumber(file('cpuacct', 'cpuacct.usage')),
    // Throttling and quota files exist only on kernels built with CFS bandwidth control.
    readOptional(file('cpu', 'cpu.stat')),
    readOptional(file('cpu', 'cpu.cfs_quota_us')),
    readOptional(file('cpu', 'cpu.cfs_period_us')),
    readNumber(file('pids', 'pids.current')),
  ]);
  const memory = parseKeyValues(stat);
  const quotaUs = optionalNumber(quota);
  return {
    cpuUsageSeconds: cpuNs / 1e9,
    cpuThrottledSeconds: (parseKeyValues(cpuStat).get('throttled_time') ?? 0) / 1e9,
    cpuQuotaMicros: quotaUs === undefined || quotaUs < 0 ? undefined : quotaUs,
    cpuPeriodMicros: optionalNumber(period),
    memoryUsageBytes: usage,
    memoryWorkingSetBytes: Math.max(0, usage - (memory.get('total_inactive_file') ?? 0)),
    memoryRssBytes: memory.get('total_rss') ?? 0,
    // v1 reports "unlimited" as a huge page-aligned number.
    memoryLimitBytes: limit >= 2 ** 62 ? undefined : limit,
    pids,
    oomKills: parseKeyValues(oomControl).get('oom_kill') ?? 0,
  };
}

async function readV2Stats(layout: CgroupLayout, cgroupsPath: string): Promise<TaskStats> {
  if (!layout.unified) throw new Error('no cgroup2 hierarchy is mounted and no v1 hierarchy holds the memory controller');
  const dir = join(layout.unified, cgroupsPath);
  const [cpuStat, cpuMax, usage, stat, max, events, pids] = await Promise.all([
    readPseudoFile(join(dir, 'cpu.stat')),
    // Only there when the cpu controller is enabled for the subtree (cpu.stat then lacks throttled_usec).
    readOptional(join(dir, 'cpu.max')),
    readNumber(join(dir, 'memory.current')),
    readPseudoFile(join(dir, 'memory.stat')),
    readPseudoFile(join(dir, 'memory.max')),
    readPseudoFile(join(dir, 'memory.events')),
    readNumber(join(dir, 'pids.current')),
  ]);
  const cpu = parseKeyValues(cpuStat);
  const memory = parseKeyValues(stat);
  const [quota, period] = cpuMax.trim().split(' ');
  return {
    cpuUsageSeconds: (cpu.get('usage_usec') ?? 0) / 1e6,
    cpuThrottledSeconds: (cpu.get('throttled_usec') ?? 0) / 1e6,
    cpuQuotaMicros: quota === 'max' ? undefined : optionalNumber(quota),
    cpuPeriodMicros: optionalNumber(period),
    memoryUsageBytes: usage,
    memoryWorkingSetBytes: Math.max(0, usage - (memory.get('inactive_file') ?? 0)),
    memoryRssBytes: memory.get('anon') ?? 0,
    memoryLimitBytes: max.trim() === 'max' ? undefined : Number(max),
    pids,
    oomKills: parseKeyValues(events).get('oom_kill') ?? 0,
  };
}

type NetworkStats = NonNullable<TaskStats['network']>;

/**
 * Byte counters of a /proc/<pid>/net/dev text, summed over every interface but loopback: traffic
 * a task sends itself never leaves it. Pure.
 */
export function parseNetDev(text: string): NetworkStats {
  let receiveBytes = 0;
  let transmitBytes = 0;
  for (const [name, counters] of netDevCounters(text)) {
    if (name === 'lo') continue;
    receiveBytes += counters.receiveBytes;
    transmitBytes += counters.transmitBytes;
  }
  return { receiveBytes, transmitBytes };
}

/** Byte counters per interface of a net/dev text, as the interface sees them. Pure. */
export function netDevCounters(text: string): Map<string, NetworkStats> {
  const out = new Map<string, NetworkStats>();
  for (const line of text.split('\n')) {
    // The two header lines have no colon. A wide counter may follow the colon without a space.
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const fields = line.slice(colon + 1).trim().split(/\s+/);
    out.set(line.slice(0, colon).trim(), { receiveBytes: Number(fields[0]), transmitBytes: Number(fields[8]) });
  }
  return out;
}

/**
 * Network counters of the namespace process `pid` lives in: /proc/<pid>/net is that namespace's
 * view, so no nsenter is needed. Undefined when the process is gone.
 */
export async function readNetworkStats(pid: number, proc = '/proc'): Promise<NetworkStats | undefined> {
  try {
    return parseNetDev(await readPseudoFile(join(proc, String(pid), 'net', 'dev')));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ESRCH') return undefined;
    throw e;
  }
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
  return Number((await readPseudoFile(path)).trim());
}

/** The file's text, or '' when the kernel does not provide it. */
async function readOptional(path: string): Promise<string> {
  return readPseudoFile(path).catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return '';
    throw e;
  });
}

/** A number from a file's text or one field of it; undefined for '' (a missing file). */
function optionalNumber(text: string | undefined): number | undefined {
  const t = text?.trim();
  return t ? Number(t) : undefined;
}

/**
 * A kernel pseudo-file's text (cgroup files, /proc, /sys), read synchronously: the kernel makes it
 * from memory, never waiting for a disk, and a scrape reads about ten per task — through the
 * thread pool each read cost more than the reading (100 tasks: ~110 ms a scrape, ~16 ms so).
 */
async function readPseudoFile(path: string): Promise<string> {
  return readFileSync(path, 'utf8');
}

/**
 * Byte counters of a task's network from the host's end of its veth pair: what the task receives
 * leaves the host end, what it sends arrives there. Read from /proc/self/net/dev — the agent's own
 * network namespace, where that end lives (sysfs would show the namespace it was mounted in,
 * which is not the agent's when the agent runs in one of its own). Undefined when it is gone.
 */
export async function readVethStats(hostInterface: string, netDev = '/proc/self/net/dev'): Promise<NetworkStats | undefined> {
  const host = netDevCounters(await readPseudoFile(netDev)).get(hostInterface);
  return host && { receiveBytes: host.transmitBytes, transmitBytes: host.receiveBytes };
}

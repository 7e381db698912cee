import type { TaskStats } from './driver';
import { RuntimeOperationError } from './errors';
import type { NetworkAttachment } from './network/task-network';
import { readCgroupStats, readNetworkStats, readVethStats, type CgroupLayout } from './runc/cgroups';

/** Where one task's usage is read from; what both process-running drivers (runc, qemu) share. */
export interface TaskStatsSource {
  readonly taskId: string;
  readonly layout: Promise<CgroupLayout>;
  /** The task's cgroup, e.g. `/berth/<node>/<taskId>`. */
  readonly cgroupsPath: string;
  /** Undefined: the task shares the host's network, whose counters are not the task's. */
  readonly network?: NetworkAttachment;
  /**
   * A process inside the task's network namespace, asked only when the CNI result names no host
   * end of the veth; undefined (or absent) when there is none to read through.
   */
  readonly pidInNetns?: () => Promise<number | undefined>;
}

/**
 * The task's cgroup counters plus, with a network of its own, its byte counters from the host end
 * of its veth (or, failing that, through `pidInNetns`). Throws RuntimeOperationError naming what
 * could not be read.
 */
export async function readTaskStats(s: TaskStatsSource): Promise<TaskStats> {
  const failed = (what: string) => (e: unknown) => {
    throw new RuntimeOperationError(s.taskId, 'stats', `cannot read ${what}: ${e instanceof Error ? e.message : String(e)}`);
  };
  const stats = await s.layout.then((layout) => readCgroupStats(layout, s.cgroupsPath)).catch(failed(`cgroup ${s.cgroupsPath}`));
  if (!s.network) return stats;
  const veth = hostVethOf(s.network);
  if (veth) {
    const network = await readVethStats(veth).catch(failed(`the counters of ${veth}`));
    return network ? { ...stats, network } : stats;
  }
  const pid = await s.pidInNetns?.();
  if (pid === undefined) return stats;
  const network = await readNetworkStats(pid).catch(failed(`the network counters of pid ${pid}`));
  return network ? { ...stats, network } : stats;
}

/**
 * The host's end of a task's veth pair, as the CNI bridge plugin's result names it: the one
 * interface that is neither in the task's namespace (`sandbox`) nor the bridge, which the plugin
 * lists first.
 */
export function hostVethOf(network: NetworkAttachment): string | undefined {
  const result = network.cniResult as { interfaces?: { name?: string; sandbox?: string }[]; ips?: { interface?: number }[] } | undefined;
  const interfaces = result?.interfaces ?? [];
  const host = interfaces.filter((i, index) => i.name && !i.sandbox && index !== 0);
  return host.length === 1 ? host[0]!.name : undefined;
}

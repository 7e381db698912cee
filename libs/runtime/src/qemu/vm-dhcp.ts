import { writeFile } from 'node:fs/promises';
import { runCommand } from '../command';
import type { CgroupLayout } from '../runc/cgroups';
import { inVmCgroup } from './vm-cgroup';
import { NETNS_BRIDGE } from './vm-network';
import { killDaemon } from './vm-state';

/**
 * The address a DHCP server in a task's namespace gives as its own (the server identifier): a
 * link-local one no task or node uses. The guest cannot reach it — the server answers only
 * broadcasts, on the namespace's bridge — which is why the lease never has to be renewed.
 */
export const DHCP_SERVER_ID = '169.254.0.1';

/** RFC 2131's "infinite" lease: the guest keeps its address for as long as it runs, as the task does. */
const INFINITE_LEASE = 0xffffffff;

export interface DhcpLease {
  /** The task's address with its prefix length, as the CNI result gives it (10.88.0.5/24). */
  readonly address: string;
  readonly gateway: string;
  /** The guest NIC's MAC: the only client the server answers. */
  readonly mac: string;
}

export interface DhcpServerFiles {
  readonly config: string;
  readonly pidFile: string;
  readonly leaseFile: string;
}

/**
 * busybox udhcpd's configuration for one guest. Pure. The pool is the task's single address,
 * which is also a static lease for the guest's MAC: udhcpd never hands a static address to anyone
 * else, so a DISCOVER of another VM (broadcasts cross the node's bridge into every namespace)
 * gets no offer from this server.
 */
export function dhcpServerConfig(lease: DhcpLease, files: DhcpServerFiles): string {
  const [ip, prefix] = lease.address.split('/');
  if (!ip || !prefix) throw new Error(`DHCP lease address must be ADDRESS/PREFIX (got "${lease.address}")`);
  return [
    `interface ${NETNS_BRIDGE}`,
    `start ${ip}`,
    `end ${ip}`,
    'max_leases 1',
    `static_lease ${lease.mac} ${ip}`,
    `option subnet ${prefixMask(Number(prefix))}`,
    `option router ${lease.gateway}`,
    `option lease ${INFINITE_LEASE}`,
    `lease_file ${files.leaseFile}`,
    `pidfile ${files.pidFile}`,
    '',
  ].join('\n');
}

/** The dotted netmask of a prefix length (24 → 255.255.255.0). Pure. */
export function prefixMask(prefix: number): string {
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > 32) throw new Error(`prefix length must be 0–32 (got ${prefix})`);
  const bits = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  return [24, 16, 8, 0].map((shift) => (bits >>> shift) & 0xff).join('.');
}

/**
 * Starts the task's DHCP server: busybox udhcpd inside the task's network namespace, bound to
 * the bridge the guest's tap is on, in the VM's cgroup (so it is counted with the VM). It
 * daemonizes, so it outlives an agent restart as QEMU does; it lives as long as the task's
 * network, and stopDhcpServer ends it before that network is torn down.
 */
export async function startDhcpServer(o: {
  readonly lease: DhcpLease;
  readonly files: DhcpServerFiles;
  readonly netnsPath: string;
  readonly busybox: string;
  readonly layout: CgroupLayout;
  readonly cgroupsPath: string;
  readonly timeoutMs: number;
}): Promise<void> {
  await writeFile(o.files.config, dhcpServerConfig(o.lease, o.files));
  const command = ['nsenter', `--net=${o.netnsPath}`, o.busybox, 'udhcpd', '-I', DHCP_SERVER_ID, o.files.config];
  await runCommand('sh', inVmCgroup(o.layout, o.cgroupsPath, command), { timeoutMs: o.timeoutMs });
}

/** Ends the task's DHCP server if it runs (found by its pid file, checked against its command line). */
export async function stopDhcpServer(taskId: string, files: DhcpServerFiles): Promise<void> {
  await killDaemon(taskId, files.pidFile, files.config, 'the DHCP server', 'destroy');
}

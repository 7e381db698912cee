import { randomBytes } from 'node:crypto';
import { runCommand } from '../command';
import { RuntimeOperationError } from '../errors';
import type { CniResult } from '../network/cni-result';
import type { NetworkAttachment } from '../network/task-network';
import type { GuestSpec } from './guest-protocol';

/** The tap QEMU opens in the task's network namespace, and the bridge joining it to the CNI veth. */
export const GUEST_TAP = 'tap0';
export const NETNS_BRIDGE = 'vmbr0';

/**
 * Moves the task's address from the CNI veth (eth0) to the guest: eth0 and a tap for QEMU join a
 * bridge inside the task's namespace, eth0 loses its address and takes a new MAC, and the guest
 * gets eth0's address, gateway and old MAC — to the node's bridge the task looks as it did after
 * CNI ADD. The veth itself stays, so CNI DEL and the host end's counters work as for containers.
 *
 * The in-namespace bridge must never learn the guest's MAC on eth0: the node's bridge runs its
 * ports in hairpin mode (a task reaching its own published port), so it sends the guest's own
 * broadcasts back up the veth, and a bridge that learned from those would send the guest's
 * traffic back to the node — the VM stops answering until the entry ages out. So eth0 does not
 * learn, and the guest's MAC is a static entry on the tap.
 */
export async function handOverToGuest(taskId: string, a: NetworkAttachment, timeoutMs: number): Promise<NonNullable<GuestSpec['network']>> {
  const result = a.cniResult as CniResult;
  const interfaces = result.interfaces ?? [];
  const ip = (result.ips ?? []).find((i) => i.interface !== undefined && interfaces[i.interface]?.sandbox && /^\d+\.\d+\.\d+\.\d+\//.test(i.address));
  const mac = ip?.interface !== undefined ? interfaces[ip.interface]?.mac : undefined;
  if (!ip?.gateway || !mac) throw new RuntimeOperationError(taskId, 'prepare', `the CNI result names no IPv4 address with gateway and MAC for the task: ${JSON.stringify(result)}`);
  const veth = interfaces[ip.interface!]!.name;
  const inNetns = (...args: string[]) => runCommand('nsenter', [`--net=${a.netnsPath}`, 'ip', ...args], { timeoutMs });
  await inNetns('link', 'add', NETNS_BRIDGE, 'type', 'bridge');
  await inNetns('tuntap', 'add', 'dev', GUEST_TAP, 'mode', 'tap');
  await inNetns('addr', 'flush', 'dev', veth);
  await inNetns('link', 'set', veth, 'down');
  await inNetns('link', 'set', veth, 'address', randomMac(), 'master', NETNS_BRIDGE);
  await inNetns('link', 'set', GUEST_TAP, 'master', NETNS_BRIDGE);
  await inNetns('link', 'set', 'dev', veth, 'type', 'bridge_slave', 'learning', 'off');
  await runCommand('nsenter', [`--net=${a.netnsPath}`, 'bridge', 'fdb', 'replace', mac, 'dev', GUEST_TAP, 'master', 'static'], { timeoutMs });
  for (const link of [veth, GUEST_TAP, NETNS_BRIDGE]) await inNetns('link', 'set', link, 'up');
  return { address: ip.address, gateway: ip.gateway, mac };
}

/** A random locally administered unicast MAC. */
export function randomMac(): string {
  const b = randomBytes(6);
  b[0] = (b[0]! & 0xfe) | 0x02;
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join(':');
}

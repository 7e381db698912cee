import type { PortMapping } from '@berth/core';
import type { NodeNetworkConfig } from './config';

/** The CNI spec version berth speaks; the distribution's plugins (1.1) support it. */
export const CNI_VERSION = '1.0.0';

/**
 * One plugin's network configuration as written to its stdin (minus `prevResult`, which the
 * executor adds per call). `type` is the plugin binary's name in the CNI bin dir.
 */
export interface CniPluginConfig {
  readonly cniVersion: string;
  readonly name: string;
  readonly type: string;
  readonly [key: string]: unknown;
}

/**
 * The plugin chain for one task on `node`, in ADD order: bridge + host-local IPAM, then portmap
 * when any port asks for a hostPort. DEL runs the same list in reverse with the same configs —
 * host-local only finds the task's lease under the network name and data dir that created it.
 * Masquerading and the FORWARD accept rules are not per task: they are node-wide rules
 * (node-rules.ts), so no plugin in the chain runs iptables unless the task publishes ports.
 *
 * Pure: the same node and ports always give the same list, which is what lets an agent that
 * restarted rebuild the configs for DEL from the persisted attachment.
 */
export function buildCniConfigs(node: NodeNetworkConfig, ports: readonly PortMapping[]): readonly CniPluginConfig[] {
  const base = { cniVersion: CNI_VERSION, name: node.networkName };
  const chain: CniPluginConfig[] = [
    {
      ...base,
      type: 'bridge',
      bridge: node.bridge,
      // The bridge holds the subnet's gateway address: the host reaches tasks directly, and
      // tasks reach the world through it.
      isGateway: true,
      // The node's masquerade rule covers the whole subnet (node-rules.ts); the plugin's own
      // is a chain per task, made and removed with several iptables runs on every ADD and DEL.
      ipMasq: false,
      // Lets a task reach its own published host port via the bridge (portmap hairpin).
      hairpinMode: true,
      ipam: {
        type: 'host-local',
        ranges: [[{ subnet: node.subnet }]],
        routes: [{ dst: '0.0.0.0/0' }],
        dataDir: node.ipamDataDir,
      },
    },
  ];
  const mappings = portMappings(ports);
  if (mappings.length > 0) {
    chain.push({
      ...base,
      type: 'portmap',
      // snat also turns on route_localnet for the bridge, which 127.0.0.1:hostPort needs.
      snat: true,
      capabilities: { portMappings: true },
      runtimeConfig: { portMappings: mappings },
    });
  }
  return chain;
}

/** portmap's runtimeConfig entries: only ports with a hostPort are published. */
export function portMappings(ports: readonly PortMapping[]): { hostPort: number; containerPort: number; protocol: string }[] {
  return ports
    .filter((p): p is PortMapping & { hostPort: number } => p.hostPort !== undefined)
    .map((p) => ({ hostPort: p.hostPort, containerPort: p.containerPort, protocol: p.protocol }));
}

import { isAbsolute, join } from 'node:path';
import { InvalidNetworkConfigError } from './errors';

/**
 * Default task subnet. Chosen clear of Docker's default networks (172.17.0.0/16, 172.18.0.0/16,
 * swarm ingress 10.0.0.0/24) and of the usual CNI examples (10.88.0.0/16, 10.22.0.0/16,
 * 10.244.0.0/16), so berth can share a machine with Docker or Podman.
 */
export const DEFAULT_SUBNET = '10.211.0.0/16';
export const DEFAULT_BRIDGE = 'berth0';
export const DEFAULT_CNI_BIN_DIR = '/usr/lib/cni';
/** Where `ip netns` keeps named namespaces, so `ip netns list` shows berth's too. */
export const DEFAULT_NETNS_DIR = '/run/netns';

/** What the agent passes in; everything but the node name and IPAM directory has a default. */
export interface NodeNetworkOptions {
  readonly nodeName: string;
  /** host-local's data directory, under the agent's own data dir so nodes never share leases. */
  readonly ipamDataDir: string;
  readonly bridge?: string;
  readonly subnet?: string;
  readonly cniBinDir?: string;
  readonly netnsDir?: string;
  /**
   * Accept the tasks' forwarded traffic explicitly, so it flows even when FORWARD's policy is
   * DROP (dockerd sets that): one node-wide chain jumped to first from FORWARD, accepting what
   * leaves the subnet and replies to it (what the CNI firewall plugin accepted per task).
   * Connections from other hosts to a published port still need FORWARD to accept them.
   * Default true.
   */
  readonly firewall?: boolean;
}

/**
 * One node's network, fully resolved. Several nodes on one machine (agents in separate network
 * namespaces, as in the e2e tests) must differ in bridge, subnet and ipamDataDir; the CNI network
 * name is derived from the node name, so iptables chains of different nodes never collide.
 */
export interface NodeNetworkConfig {
  readonly nodeName: string;
  /** CNI network name: `berth-<node>`; host-local keeps its leases in `<ipamDataDir>/<networkName>/`. */
  readonly networkName: string;
  readonly bridge: string;
  readonly subnet: string;
  readonly ipamDataDir: string;
  readonly cniBinDir: string;
  readonly netnsDir: string;
  readonly firewall: boolean;
}

// Node names and task ids both end up in file names, CNI container ids and iptables comments.
const NODE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
// Linux interface names: at most 15 bytes (IFNAMSIZ - 1), no '/', no whitespace, not "." or "..".
const IFNAME = /^[A-Za-z0-9_.-]{1,15}$/;

/** Validates the options and fills defaults. Throws InvalidNetworkConfigError naming the field. */
export function resolveNodeNetworkConfig(options: NodeNetworkOptions): NodeNetworkConfig {
  const bridge = options.bridge ?? DEFAULT_BRIDGE;
  const subnet = options.subnet ?? DEFAULT_SUBNET;
  if (!NODE_NAME.test(options.nodeName)) {
    throw new InvalidNetworkConfigError('nodeName', `"${options.nodeName}" must start with a letter or digit and contain only letters, digits, "_", "." and "-"`);
  }
  if (!IFNAME.test(bridge) || bridge === '.' || bridge === '..') {
    throw new InvalidNetworkConfigError('bridge', `"${bridge}" is not a valid interface name (1–15 letters, digits, "_", "." or "-")`);
  }
  const subnetProblem = ipv4SubnetProblem(subnet);
  if (subnetProblem) throw new InvalidNetworkConfigError('subnet', subnetProblem);
  const dirs = {
    ipamDataDir: options.ipamDataDir,
    cniBinDir: options.cniBinDir ?? DEFAULT_CNI_BIN_DIR,
    netnsDir: options.netnsDir ?? DEFAULT_NETNS_DIR,
  };
  for (const [field, dir] of Object.entries(dirs)) {
    if (!isAbsolute(dir)) throw new InvalidNetworkConfigError(field, `"${dir}" must be an absolute path`);
  }
  return Object.freeze({
    nodeName: options.nodeName,
    networkName: `berth-${options.nodeName}`,
    bridge,
    subnet,
    ...dirs,
    firewall: options.firewall ?? true,
  });
}

/** Why `cidr` is not a usable IPv4 task subnet (a.b.c.d/8…/30 with no host bits), or undefined. */
export function ipv4SubnetProblem(cidr: string): string | undefined {
  const match = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(cidr);
  if (!match) return `"${cidr}" is not an IPv4 CIDR like 10.211.0.0/16`;
  const octets = match.slice(1, 5).map(Number);
  const prefix = Number(match[5]);
  if (octets.some((o) => o > 255)) return `"${cidr}" has an octet above 255`;
  if (prefix < 8 || prefix > 30) return `"${cidr}": prefix must be between /8 and /30 (got /${prefix})`;
  const address = octets.reduce((acc, o) => acc * 256 + o, 0);
  const hostBits = 2 ** (32 - prefix);
  if (address % hostBits !== 0) return `"${cidr}" has host bits set`;
  return undefined;
}

/**
 * The task's namespace is named `berth-<taskId>` (task ids are unique for all time). The id also
 * becomes CNI_CONTAINERID and a file name, hence the character check.
 */
export function netnsPathFor(config: NodeNetworkConfig, taskId: string): string {
  if (!NODE_NAME.test(taskId)) {
    throw new InvalidNetworkConfigError('taskId', `"${taskId}" must start with a letter or digit and contain only letters, digits, "_", "." and "-"`);
  }
  return join(config.netnsDir, `berth-${taskId}`);
}

import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { PortMapping } from '@berth/core';
import { buildCniConfigs, CNI_VERSION } from './cni-config';
import { assertPluginsInstalled, cniAdd, cniDel, type CniCallTarget } from './cni-exec';
import { resultFromAddress, taskIpv4, type CniResult } from './cni-result';
import { netnsPathFor, resolveNodeNetworkConfig, type NodeNetworkConfig, type NodeNetworkOptions } from './config';
import { NetworkSetupError } from './errors';
import { SharedExclusiveGate } from './gate';
import { HostPortReservations } from './host-ports';
import { pruneIdlePortmapChains } from './iptables-prune';
import { bridgePorts, createNetns, deleteLink, deleteNetns, exists, readIpv4InNetns } from './netns';
import { ensureNodeRules, removeNodeRules } from './node-rules';
import type { NetworkAttachment, TaskNetwork } from './task-network';

/** The interface name every task sees inside its namespace. */
const TASK_IFNAME = 'eth0';

/**
 * Task networking of one node with the distribution's CNI plugins: a namespace per task
 * (`<netnsDir>/berth-<taskId>`), a veth into the node's bridge with an address from host-local,
 * host ports published by portmap. Masquerading and accepting the tasks' traffic are node-wide
 * rules (node-rules.ts), made with the node's first task and removed with its last.
 *
 * Tasks are set up and torn down side by side (a few at a time: the plugins are CPU-bound, and a
 * node starting 100 tasks must not do them one by one). What must not interleave runs alone:
 * the "last task gone → remove the bridge" check, which must never race a setUp about to plug a
 * veth into that bridge, and a setUp that may create node-wide state (the bridge and the node's
 * iptables rules when this node has no task yet; portmap's shared chains when the task publishes
 * ports), since two plugins creating the same chain at once make one of them fail.
 * The agent owns one instance per node; several instances (nodes) with different bridge, subnet
 * and IPAM directory can share a machine.
 */
export class CniNetwork implements TaskNetwork {
  readonly config: NodeNetworkConfig;
  private readonly hostPorts: HostPortReservations;
  private readonly attached = new Map<string, NetworkAttachment>();
  private readonly gate: SharedExclusiveGate;
  /** setUps called and not yet finished. */
  private settingUp = 0;
  /**
   * The node's iptables rules, once this instance ensured them; forgotten when it removes them.
   * One promise, so setUps running side by side (after a failed first setUp,
   * say) never ensure them twice at once.
   */
  private nodeRules: Promise<void> | undefined;

  /** Throws InvalidNetworkConfigError when the options are unusable. */
  constructor(options: NodeNetworkOptions & { readonly parallelism?: number }) {
    this.config = resolveNodeNetworkConfig(options);
    this.hostPorts = new HostPortReservations(this.config.nodeName);
    this.gate = new SharedExclusiveGate(options.parallelism ?? 4);
  }

  /**
   * See TaskNetwork.setUp. Missing plugin binaries (CniPluginError) and taken host ports
   * (HostPortInUseError) are found before anything is created; a plugin failing later rolls back
   * everything done so far. A namespace left behind by an
   * interrupted setUp of the same task (agent crash) is torn down and rebuilt.
   */
  async setUp(taskId: string, ports: readonly PortMapping[]): Promise<NetworkAttachment> {
    // Only the first of a burst of setUps on an empty node runs alone; the gate admits in order,
    // so the rest run side by side after it, with the bridge and the node's rules in place.
    const createsSharedState = (this.attached.size === 0 && this.settingUp === 0) || ports.some((p) => p.hostPort !== undefined);
    const attach = () => this.attach(taskId, ports);
    // A host port the task this one replaces still holds is released by that task's tearDown,
    // which needs the gate: wait for it outside.
    await this.hostPorts.whenFree(taskId, ports);
    this.settingUp++;
    try {
      return await (createsSharedState ? this.gate.runExclusive(attach) : this.gate.runShared(attach));
    } catch (e) {
      // A failed setUp rolled its task back; the bridge and rules it may have made go when idle.
      await this.removeBridgeWhenIdle();
      throw e;
    } finally {
      this.settingUp--;
    }
  }

  /**
   * See TaskNetwork.tearDown. When a plugin's DEL fails, the namespace and host ports are kept
   * (a retry can then finish the job) and the plugin's error is thrown. Removes the bridge and the
   * node's iptables rules once no task uses them, and portmap's shared chains once nobody on the
   * host does.
   */
  async tearDown(attachment: NetworkAttachment): Promise<void> {
    await this.gate.runShared(() => this.detach(attachment));
    await this.removeBridgeWhenIdle();
  }

  /**
   * Takes back a task set up by an earlier agent process (from its state file): reserves its
   * host ports again so the next setUp treats it as known. Throws HostPortInUseError when a
   * host process took a port while the agent was down.
   */
  adopt(attachment: NetworkAttachment): Promise<void> {
    return this.gate.runShared(async () => {
      if (this.attached.has(attachment.taskId)) return;
      await this.hostPorts.reserve(attachment.taskId, attachment.ports);
      this.attached.set(attachment.taskId, attachment);
    });
  }

  /**
   * Removes everything of this node: tears down every task it knows, deletes the bridge, the
   * node's iptables rules and the IPAM leases, prunes idle shared chains. For cleanup (tests,
   * node removal). Idempotent.
   */
  destroyNode(): Promise<void> {
    return this.gate.runExclusive(async () => {
      for (const attachment of [...this.attached.values()]) await this.detach(attachment);
      await this.removeNodeState({ bridge: true });
      await rm(join(this.config.ipamDataDir, this.config.networkName), { recursive: true, force: true });
    });
  }

  private async attach(taskId: string, ports: readonly PortMapping[]): Promise<NetworkAttachment> {
    const known = this.attached.get(taskId);
    if (known) return known;
    const netnsPath = netnsPathFor(this.config, taskId);
    if (await exists(netnsPath)) await this.detach(await this.leftover(taskId, netnsPath, ports));
    const chain = buildCniConfigs(this.config, ports);
    await assertPluginsInstalled(chain, this.config.cniBinDir);
    await this.hostPorts.reserve(taskId, ports);
    let result: CniResult | undefined;
    try {
      await this.ensureNodeRules();
      await createNetns(netnsPath);
      for (const plugin of chain) {
        result = await cniAdd(plugin, this.target(taskId, netnsPath), result);
      }
      const ip = result && taskIpv4(result);
      if (!ip) throw new NetworkSetupError(`task ${taskId}: the CNI result has no IPv4 address for ${TASK_IFNAME}`);
      const attachment: NetworkAttachment = { taskId, netnsPath, ip, ports: [...ports], cniResult: result };
      this.attached.set(taskId, attachment);
      return attachment;
    } catch (e) {
      await this.rollBack({ taskId, netnsPath, ports, cniResult: result }, e);
      throw e;
    }
  }

  /** What an interrupted setUp left behind, described as well as the namespace still allows. */
  private async leftover(taskId: string, netnsPath: string, ports: readonly PortMapping[]): Promise<NetworkAttachment> {
    const cidr = await readIpv4InNetns(netnsPath, TASK_IFNAME);
    const cniResult = cidr ? resultFromAddress(CNI_VERSION, TASK_IFNAME, netnsPath, cidr) : undefined;
    return { taskId, netnsPath, ports, cniResult };
  }

  private async rollBack(partial: NetworkAttachment, cause: unknown): Promise<void> {
    try {
      await this.detach(partial);
    } catch (rollbackError) {
      throw new NetworkSetupError(`${(cause as Error).message}; rolling back also failed: ${(rollbackError as Error).message}`);
    }
  }

  private async detach(attachment: NetworkAttachment): Promise<void> {
    const target = this.target(attachment.taskId, attachment.netnsPath);
    const prevResult = attachment.cniResult as CniResult | undefined;
    // Reverse order, same configs, the final ADD result as prevResult — as libcni does.
    for (const plugin of [...buildCniConfigs(this.config, attachment.ports)].reverse()) {
      await cniDel(plugin, target, prevResult);
    }
    // Only now: bridge's DEL removes the task's veth from inside the namespace.
    await deleteNetns(attachment.netnsPath);
    await this.hostPorts.release(attachment.taskId);
    this.attached.delete(attachment.taskId);
  }

  private async removeBridgeWhenIdle(): Promise<void> {
    // Cheap test first: while this instance knows other tasks, the bridge is in use.
    if (this.attached.size === 0) await this.gate.runExclusive(() => this.removeBridgeIfIdle());
  }

  private async removeBridgeIfIdle(): Promise<void> {
    const ports = await bridgePorts(this.config.bridge);
    // No bridge counts as idle: a first setUp that failed before the bridge plugin made one may
    // have made the node's rules already.
    const bridgeIdle = ports === undefined || ports.length === 0;
    // Ports, but no address of this node's: the bridge carries tasks of another CNI network
    // (nodes are meant to have a bridge each, but nothing enforces it). The bridge stays; the
    // rest goes with this node's last task. A task of an earlier agent process holds its lease.
    if (!bridgeIdle && (await this.holdsLeases())) return;
    await this.removeNodeState({ bridge: bridgeIdle });
  }

  /** Runs exclusively: nothing can be wiring a task to the bridge or relying on the rules. */
  private async removeNodeState(o: { readonly bridge: boolean }): Promise<void> {
    if (o.bridge) await deleteLink(this.config.bridge);
    await this.removeNodeRules();
    await pruneIdlePortmapChains();
  }

  private async removeNodeRules(): Promise<void> {
    this.nodeRules = undefined;
    await removeNodeRules(this.config);
  }

  /** Whether host-local holds an address for any task of this node (a file named by the address). */
  private async holdsLeases(): Promise<boolean> {
    const dir = join(this.config.ipamDataDir, this.config.networkName);
    const names = await readdir(dir).catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') return [];
      throw new NetworkSetupError(`cannot list the IPAM leases in ${dir}: ${e.message}`);
    });
    return names.some((name) => /^\d+\.\d+\.\d+\.\d+$/.test(name));
  }

  private ensureNodeRules(): Promise<void> {
    this.nodeRules ??= ensureNodeRules(this.config).catch((e: unknown) => {
      this.nodeRules = undefined;
      throw e;
    });
    return this.nodeRules;
  }

  private target(taskId: string, netnsPath: string): CniCallTarget {
    return { containerId: taskId, netnsPath, ifName: TASK_IFNAME, binDir: this.config.cniBinDir };
  }

}

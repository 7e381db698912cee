import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, rmdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { apiJson, readAdminConfig, type ApiAccess } from '../../support/api';
import { buildBusyboxLayout, cgroupDirsNamed, dhcpServersUnder, mountsUnder } from '../../support/node-host';
import { startRegistry, type LocalRegistry } from '../../support/registry';
import { BERTH_BIN, eventually, freePort, isAlive, killIfAlive } from './berth-cli';
import { BerthProcess } from './berth-process';
import { BerthCli } from './cluster';
import { HostGuard } from './host-guard';
import { NetnsLab, type LabHost } from './netns-lab';
import { defaultRuncRoot, removeTaskTraces, runcList, type RuncEntry } from './node-traces';

const exec = promisify(execFile);

/** A LabCluster's bridge, veths and namespaces start with this (NetnsLab family) unless told otherwise. */
export const LAB_CLUSTER_FAMILY = 'bnod';

export interface LabClusterOptions {
  /** How many hosts (network namespaces), each with one `berth agent`. */
  readonly hosts: number;
  /** Passed as `berth server --node-down-after VALUE`, and only when given. */
  readonly nodeDownAfter?: string;
  /** More `berth server` arguments, appended as they are. */
  readonly serverArgs?: readonly string[];
  /**
   * First three octets of the lab network (default `10.244.0`): the bridge is `.1`, host i `.(i+2)`.
   * Host i's task subnet is `10.<subnetOctet>.<i>.0/24` (default 245). Both are clear of berth's
   * default (10.211/16), Docker's (172.17/16, 172.18/16, 10.0.0.0/24), the integration suites'
   * (10.231–10.233) and two-hosts' (10.241–10.243); a suite running beside another picks others.
   */
  readonly net?: string;
  readonly subnetOctet?: number;
  /** How many of the hosts' agents `start()` starts (default: all); the others join with startAgent(i). */
  readonly agentsAtStart?: number;
  /** `berth agent --label K=V` per host index, the labels the agent reports for its node. */
  readonly agentLabels?: Readonly<Record<number, Readonly<Record<string, string>>>>;
  /** Prefix of the temp directory (default `berth-e2e-lab-`). */
  readonly tempPrefix?: string;
  /**
   * The first 4 characters of every link and namespace name (default LAB_CLUSTER_FAMILY). Suites
   * that may run at the same time use different families: each one's host check ignores the others' links.
   */
  readonly family?: string;
  /**
   * Agents also run `runtime: vm` tasks (QEMU microVMs) where qemu-system-x86_64 is installed, and
   * probe KVM in the background at start. Default false: agents run with `--no-vms` (containers
   * only, no probe), so suites that do not need VMs pay nothing for them.
   */
  readonly vms?: boolean;
}

/** One host of the lab and the agent that is its node; everything here is that agent's alone. */
export interface LabNode {
  readonly index: number;
  /** The node name, `<lab prefix>-n<index>`. */
  readonly name: string;
  readonly host: LabHost;
  readonly dataDir: string;
  /** The agent's task bridge (it exists in the host's namespace only). */
  readonly bridge: string;
  readonly subnet: string;
  readonly runcRoot: string;
}

/**
 * A cluster of real processes on one machine acting as several: a NetnsLab (one network namespace
 * per host), a local registry on the lab bridge holding busybox as `<registry>/busybox:1`, one
 * `berth server` (API on 127.0.0.1, agents' gRPC on the lab bridge, embedded etcd), and one
 * `berth agent` per host started with `nsenter --net=`. Faults are methods (kill -9, SIGSTOP,
 * link down, control-plane kill) and each can be undone; `heal()` undoes them all.
 *
 * `start()` cleans up after itself when it fails; `destroy()` removes everything (containers,
 * mounts, cgroups, namespaces, bridges, iptables rules, data dirs), is idempotent, and
 * `leftovers()` then lists anything still there. A cluster captures the host's state (HostGuard)
 * before it creates anything, so `leftovers()` also reports host-wide changes.
 */
export class LabCluster {
  readonly nodes: LabNode[] = [];
  readonly cli: BerthCli;
  private lab: NetnsLab | undefined;
  private registry: LocalRegistry | undefined;
  private server: BerthProcess | undefined;
  private joinToken: string | undefined;
  private readonly agents: (BerthProcess | undefined)[] = [];
  private readonly paused = new Set<number>();
  /** Every process started, in order, for the logs. */
  private readonly started: { what: string; process: BerthProcess }[] = [];
  private apiPort = 0;
  private grpc = '';
  private readonly seenTaskIds = new Set<string>();
  private labPrefix = '';
  private admin: Promise<ApiAccess> | undefined;

  private constructor(
    private readonly opts: LabClusterOptions,
    readonly root: string,
    private readonly guard: HostGuard,
  ) {
    this.cli = new BerthCli({ HOME: this.home }, this.workDir);
  }

  /** The lab's name prefix (8 characters): node names are `<prefix>-n<i>`. */
  get prefix(): string {
    return this.labPrefix;
  }

  get home(): string {
    return join(this.root, 'home');
  }

  /** Where `cli.apply` writes manifests. */
  get workDir(): string {
    return join(this.root, 'work');
  }

  get apiUrl(): string {
    return `https://127.0.0.1:${this.apiPort}`;
  }

  /** `berth server`'s data dir. */
  get serverDataDir(): string {
    return join(this.root, 'server');
  }

  /** `<root>/server/admin.yaml`: the API's URL, the cluster CA and an admin token, as the server wrote them. */
  get adminConfigFile(): string {
    return join(this.serverDataDir, 'admin.yaml');
  }

  /** The cluster CA certificate's file (what Prometheus's tls_config.ca_file names). */
  get caFile(): string {
    return join(this.serverDataDir, 'pki', 'ca.pem');
  }

  /** The admin's access to the API (admin.yaml, read once per start of the server). */
  access(): Promise<ApiAccess> {
    this.admin ??= readAdminConfig(this.adminConfigFile).catch((e: unknown) => {
      this.admin = undefined;
      throw e;
    });
    return this.admin;
  }

  get registryAddress(): string {
    if (!this.registry) throw new Error('the registry is not running');
    return this.registry.address;
  }

  /** The busybox OCI layout pushed to the lab's registry, as `oci:DIR:TAG` (what bare-runtime benches start from). */
  get layout(): string {
    return `oci:${join(this.root, 'busybox')}:1`;
  }

  /** busybox in the lab's registry. */
  get image(): string {
    return `${this.registryAddress}/busybox:1`;
  }

  get net(): string {
    return this.opts.net ?? '10.244.0';
  }

  static async start(opts: LabClusterOptions): Promise<LabCluster> {
    if (!existsSync(BERTH_BIN)) throw new Error(`${BERTH_BIN} is missing: build first (npx tsc -b tsconfig.build.json)`);
    const family = opts.family ?? LAB_CLUSTER_FAMILY;
    const net = opts.net ?? '10.244.0';
    const octet = opts.subnetOctet ?? 245;
    const subnetMarks = Array.from({ length: opts.hosts }, (_, i) => `10.${octet}.${i}.`);
    // The agents' CNI networks live in their namespaces: none of their rules may show up on the host.
    const guard = HostGuard.capture({ ownNetworks: [], marks: [`${net}.`, ...subnetMarks, `berth-${family}`], bridgePrefix: family });
    const root = await mkdtemp(join(tmpdir(), opts.tempPrefix ?? 'berth-e2e-lab-'));
    const cluster = new LabCluster(opts, root, guard);
    try {
      await cluster.build(family, octet);
      return cluster;
    } catch (e) {
      await cluster.destroy().catch(() => undefined);
      throw e;
    }
  }

  private async build(family: string, octet: number): Promise<void> {
    this.lab = await NetnsLab.create({ net: this.net, hosts: this.opts.hosts, family });
    this.labPrefix = this.lab.prefix;
    for (const [index, host] of this.lab.hosts.entries()) {
      const name = `${this.lab.prefix}-n${index}`;
      this.nodes.push({ index, name, host, dataDir: join(this.root, `agent-${index}`), bridge: `lb${index}`, subnet: `10.${octet}.${index}.0/24`, runcRoot: defaultRuncRoot(name) });
    }
    await mkdir(this.home);
    await mkdir(this.workDir);
    // The registry listens on the lab bridge: the agents cannot reach the host's loopback.
    this.registry = await startRegistry({ host: this.lab.bridgeAddress });
    const layout = await buildBusyboxLayout(join(this.root, 'busybox'));
    await exec('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', layout, `docker://${this.image}`]);
    this.apiPort = await freePort();
    this.grpc = `${this.lab.bridgeAddress}:${await freePort()}`;
    await this.startServer();
    // What an operator does once: a join token, which every agent's first start uses.
    this.joinToken = await this.cli.joinToken();
    const starting = this.nodes.slice(0, this.opts.agentsAtStart ?? this.nodes.length);
    for (const n of starting) await this.startAgent(n.index);
    await this.cli.readyNodes(starting.length, 120_000);
  }

  private node(i: number): LabNode {
    const n = this.nodes[i];
    if (!n) throw new Error(`no node ${i} (the lab has ${this.nodes.length})`);
    return n;
  }

  private get netnsLab(): NetnsLab {
    if (!this.lab) throw new Error('the lab is not built');
    return this.lab;
  }

  // --- the control plane -------------------------------------------------------------------

  /** `berth server` with the same data dir and ports every time, so its etcd keeps its data. */
  async startServer(): Promise<void> {
    if (this.server && !this.server.exited) throw new Error('berth server is running already');
    const args = ['server', '--data-dir', this.serverDataDir, '--api', `127.0.0.1:${this.apiPort}`, '--grpc', this.grpc];
    // Apply pins image digests from here: the lab's registry is plain HTTP off loopback.
    args.push('--insecure-registry', this.registryAddress);
    if (this.opts.nodeDownAfter !== undefined) args.push('--node-down-after', this.opts.nodeDownAfter);
    this.server = this.track('server', BerthProcess.start([...args, ...(this.opts.serverArgs ?? [])], { env: { HOME: this.home } }));
    // admin.yaml is written again at every start: read it afresh.
    this.admin = undefined;
    await this.server.apiReady(this.apiUrl, { caFile: this.caFile, adminConfig: this.adminConfigFile });
  }

  /** kill -9 of `berth server` (its embedded etcd dies with it); resolves once both are gone. */
  async killServer(): Promise<void> {
    await this.server?.kill();
  }

  /** The pid of `berth server` (the control plane's own process, not its etcd), while it runs. */
  get serverPid(): number | undefined {
    return this.server && !this.server.exited ? this.server.pid : undefined;
  }

  get serverRunning(): boolean {
    return this.server !== undefined && !this.server.exited;
  }

  /** GET `path` of the API as JSON (the objects `berth get -o json` prints) as the admin, with a 5 s deadline. */
  async api<T>(path: string): Promise<T> {
    return apiJson<T>(await this.access(), path, { timeoutMs: 5000 });
  }

  // --- agents ------------------------------------------------------------------------------

  /** Starts node i's agent: same name, data dir, bridge and subnet as before, so it re-adopts its containers. */
  async startAgent(i: number): Promise<void> {
    const n = this.node(i);
    const running = this.agents[i];
    if (running && !running.exited) throw new Error(`the agent of ${n.name} is running already`);
    const args = ['agent', '--server', this.grpc, '--name', n.name, '--data-dir', n.dataDir, '--bridge', n.bridge, '--subnet', n.subnet];
    // Needed at an agent's first start only; later starts reuse the certificate in its data dir.
    if (this.joinToken) args.push('--token', this.joinToken);
    args.push('--insecure-registry', this.registryAddress, '--address', n.host.address);
    for (const [k, v] of Object.entries(this.opts.agentLabels?.[i] ?? {})) args.push('--label', `${k}=${v}`);
    if (!this.opts.vms) args.push('--no-vms');
    this.agents[i] = this.track(n.name, BerthProcess.start(args, { env: { HOME: this.home }, prefix: this.netnsLab.nsenter(n.host) }));
    this.paused.delete(i);
  }

  /**
   * What an operator does for a node that was removed (its certificates revoked): stops its agent,
   * deletes the certificate from its data dir and starts it again with the join token.
   */
  async rejoinAgent(i: number): Promise<void> {
    const n = this.node(i);
    if (this.agentRunning(i)) await this.agents[i]!.stop();
    await rm(join(n.dataDir, 'pki', 'node.pem'), { force: true });
    await rm(join(n.dataDir, 'pki', 'node.key'), { force: true });
    await this.startAgent(i);
  }

  /** Node i's agent's output so far (stderr). */
  agentOutput(i: number): string {
    return this.agents[i]?.stderr() ?? '';
  }

  /** kill -9 of node i's agent, by PID (its containers keep running); resolves once it is gone. */
  async killAgent(i: number): Promise<void> {
    const agent = this.agents[i];
    if (!agent || agent.exited) throw new Error(`the agent of ${this.node(i).name} is not running`);
    await agent.stop('SIGKILL');
    this.paused.delete(i);
  }

  /** SIGSTOP or SIGCONT to node i's agent. */
  stopAgent(i: number, signal: 'SIGSTOP' | 'SIGCONT'): void {
    const agent = this.agents[i];
    if (!agent || agent.exited) throw new Error(`the agent of ${this.node(i).name} is not running`);
    process.kill(agent.pid, signal);
    if (signal === 'SIGSTOP') this.paused.add(i);
    else this.paused.delete(i);
  }

  agentRunning(i: number): boolean {
    const agent = this.agents[i];
    return agent !== undefined && !agent.exited;
  }

  agentPid(i: number): number | undefined {
    return this.agentRunning(i) ? this.agents[i]!.pid : undefined;
  }

  /** Cuts host i off the lab network (host side of its veth down); the agent keeps running. */
  async linkDown(i: number): Promise<void> {
    await this.netnsLab.setLink(this.node(i).host, 'down');
  }

  async linkUp(i: number): Promise<void> {
    await this.netnsLab.setLink(this.node(i).host, 'up');
  }

  /** Runs `ip ARGS` inside node i's host namespace (where its agent's bridge and routes are) and returns stdout. */
  async ipIn(i: number, args: readonly string[]): Promise<string> {
    return this.netnsLab.ipIn(this.node(i).host, args);
  }

  /** Undoes every fault: links up, stopped agents continued, dead agents and server started; waits until every node is ready. */
  async heal(deadlineMs = 120_000): Promise<void> {
    for (const n of this.nodes) await this.linkUp(n.index);
    for (const i of [...this.paused]) this.stopAgent(i, 'SIGCONT');
    if (!this.serverRunning) await this.startServer();
    for (const n of this.nodes) if (!this.agentRunning(n.index)) await this.startAgent(n.index);
    await this.cli.readyNodes(this.nodes.length, deadlineMs);
  }

  // --- what runs on a host -----------------------------------------------------------------

  /** Live containers (running or paused) of node i, from its `runc --root`. */
  async runcContainers(i: number): Promise<string[]> {
    return (await this.runcList(i)).filter((c) => c.status === 'running' || c.status === 'paused').map((c) => c.id);
  }

  /** Every container of node i, whatever its state. */
  async runcList(i: number): Promise<RuncEntry[]> {
    const list = await runcList(this.node(i).runcRoot);
    for (const c of list) this.seenTaskIds.add(c.id);
    return list;
  }

  /** The task directories node i's agent keeps (`<data dir>/runtime/tasks/<id>`). */
  async taskDirs(i: number): Promise<string[]> {
    const ids = await readdir(join(this.node(i).dataDir, 'runtime', 'tasks')).catch(() => []);
    for (const id of ids) this.seenTaskIds.add(id);
    return ids;
  }

  /** The VM task directories node i's agent keeps (`<data dir>/vm/tasks/<id>`, the qemu driver's). */
  async vmTaskDirs(i: number): Promise<string[]> {
    const ids = await readdir(join(this.node(i).dataDir, 'vm', 'tasks')).catch(() => []);
    for (const id of ids) this.seenTaskIds.add(id);
    return ids;
  }

  /**
   * QEMU's pid per VM task of node i that runs one now, read from the task's pid file
   * (`<data dir>/vm/tasks/<id>/qemu.pid`) and checked against the process's command line.
   */
  async qemuPids(i: number): Promise<Map<string, number>> {
    const pids = new Map<string, number>();
    for (const id of await this.vmTaskDirs(i)) {
      const pid = await qemuOf(join(this.node(i).dataDir, 'vm', 'tasks', id, 'qemu.pid'));
      if (pid !== undefined) pids.set(id, pid);
    }
    return pids;
  }

  /** The last `lines` lines each process wrote to stderr, for a failure message. */
  logTail(lines = 20): string {
    return this.started.map(({ what, process }) => `--- ${what} (pid ${process.pid})\n${process.stderr().split('\n').slice(-lines).join('\n')}`).join('\n');
  }

  private track(what: string, process: BerthProcess): BerthProcess {
    this.started.push({ what, process });
    return process;
  }

  // --- teardown ----------------------------------------------------------------------------

  /**
   * Kills every process (VMs' QEMUs too), removes every task's container, mounts, namespace and cgroups, the
   * runc roots, the namespaces (which take the agents' bridges and iptables rules with them), the
   * lab bridge, the registry and the temp dir; then restores what CNI changes host-wide
   * (HostGuard.restore). Idempotent; every step runs, the first failure is thrown at the end.
   * With BERTH_E2E_LOGS=DIR the processes' stderr is written there first.
   */
  async destroy(): Promise<void> {
    const failures: unknown[] = [];
    const step = async (fn: () => unknown) => {
      try {
        await fn();
      } catch (e) {
        failures.push(e);
      }
    };
    if (process.env.BERTH_E2E_LOGS) await step(() => this.writeLogs(process.env.BERTH_E2E_LOGS!));
    for (const agent of this.agents) await step(() => agent?.kill()); // SIGKILL also ends a stopped process
    this.paused.clear();
    await step(() => this.server?.kill());
    for (const n of this.nodes) await step(() => this.removeNodeTraces(n));
    await step(() => rmdir('/run/berth').catch(() => undefined)); // only when no other node uses it
    await step(() => this.lab?.destroy());
    await step(() => this.registry?.stop());
    await step(() => rm(this.root, { recursive: true, force: true }));
    await step(() => this.guard.restore());
    if (failures.length > 0) throw failures[0];
  }

  private async removeNodeTraces(n: LabNode): Promise<void> {
    // QEMU daemonizes: VMs outlive their agent and hold their overlay mounts until killed.
    for (const pid of (await this.qemuPids(n.index)).values()) await killAndWait(pid);
    // So do the DHCP servers of VMs booted by their own bootloader (they live in the VM's cgroup).
    for (const { pid } of await dhcpServersUnder(n.dataDir)) await killAndWait(pid);
    const vmIds = await this.vmTaskDirs(n.index);
    const ids = [...new Set([...(await this.taskDirs(n.index)), ...vmIds, ...(await this.runcList(n.index).catch(() => [])).map((c) => c.id)])];
    await removeTaskTraces({ node: n.name, runcRoot: n.runcRoot, dataDir: n.dataDir }, ids);
    // Cgroups of tasks whose directory went before their cgroup did (removeTaskTraces only knows ids).
    for (const dir of await cgroupDirsNamed(`/berth/${n.name}`)) {
      for (const child of await readdir(dir, { withFileTypes: true })) if (child.isDirectory()) await rmdir(join(dir, child.name)).catch(() => undefined);
      await rmdir(dir).catch(() => undefined);
      await rmdir(join(dir, '..')).catch(() => undefined); // /berth itself, only when empty
    }
    await rm(join(n.runcRoot, '..'), { recursive: true, force: true });
  }

  private async writeLogs(dir: string): Promise<void> {
    await mkdir(dir, { recursive: true });
    for (const [i, { what, process }] of this.started.entries()) await writeFile(join(dir, `${this.prefix}-${i}-${what}.log`), process.stderr());
  }

  /** What is still on the host of this cluster after `destroy()`, as readable lines; empty when nothing is. */
  async leftovers(): Promise<string[]> {
    const left = [...this.guard.changes()];
    if (this.prefix) {
      const netns = (await readdir('/run/netns').catch(() => [])).filter((f) => f.startsWith(this.prefix));
      for (const f of netns) left.push(`network namespace ${f}`);
    }
    for (const id of this.seenTaskIds) if (existsSync(`/run/netns/berth-${id}`)) left.push(`task namespace /run/netns/berth-${id}`);
    for (const n of this.nodes) {
      if (existsSync(join(n.runcRoot, '..'))) left.push(`runc root ${n.runcRoot}`);
      for (const dir of await cgroupDirsNamed(`/berth/${n.name}`)) left.push(`cgroup ${dir}`);
    }
    for (const m of await mountsUnder(this.root)) left.push(`mount ${m}`);
    if (existsSync(this.root)) left.push(`directory ${this.root}`);
    for (const p of await processesMentioning([this.root, ...(this.prefix ? [this.prefix] : [])])) left.push(`process ${p}`);
    return left;
  }
}

/** The pid in a QEMU pid file while that QEMU runs (its command line names the pid file); else undefined. */
async function qemuOf(pidFile: string): Promise<number | undefined> {
  const pid = Number((await readFile(pidFile, 'utf8').catch(() => '')).trim());
  if (!Number.isInteger(pid) || pid <= 0 || !isAlive(pid)) return undefined;
  const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
  return cmdline.includes(pidFile) ? pid : undefined;
}

/** SIGKILL to a process we started (a VM's QEMU) and up to 10 s for it to go. */
async function killAndWait(pid: number): Promise<void> {
  killIfAlive(pid);
  await eventually(`QEMU (pid ${pid}) to end`, async () => (isAlive(pid) ? undefined : true), 10_000);
}

/** `pid: command line` of every process whose command line contains one of `needles`. */
async function processesMentioning(needles: readonly string[]): Promise<string[]> {
  const found: string[] = [];
  for (const pid of (await readdir('/proc')).filter((e) => /^\d+$/.test(e))) {
    if (Number(pid) === process.pid) continue;
    const cmdline = (await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).split('\0').join(' ');
    if (needles.some((n) => cmdline.includes(n))) found.push(`${pid}: ${cmdline.trim()}`);
  }
  return found;
}

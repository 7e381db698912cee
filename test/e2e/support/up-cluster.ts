import { existsSync } from 'node:fs';
import { hostname } from 'node:os';
import { mkdir, mkdtemp, readFile, readdir, rm, rmdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CniNetwork, ImageStore, RuncDriver, type TaskHandle } from '@berth/runtime';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { expect } from 'vitest';
import { readAdminConfig, type ApiAccess } from '../../support/api';
import { buildBusyboxLayout } from '../../support/node-host';
import { startRegistry, type LocalRegistry } from '../../support/registry';
import { BERTH_BIN, freePort } from './berth-cli';
import { BerthProcess } from './berth-process';
import { BerthCli } from './cluster';
import { HostGuard } from './host-guard';
import { defaultRuncRoot, removeTaskTraces, runcContainers, type NodeScope } from './node-traces';

/** `berth up`'s agent uses the runtime's default bridge (it has no --bridge flag). */
export const UP_BRIDGE = 'berth0';

const exec = promisify(execFile);

/**
 * The host as a `berth up` suite finds it, to compare with afterwards: its agent may only touch
 * its own CNI network (`berth-<host>`), the default task subnet and bridge. Capture it before
 * `UpCluster.start`.
 */
export function captureUpHost(): HostGuard {
  return HostGuard.capture({ ownNetworks: [`berth-${hostname().toLowerCase()}`], marks: ['10.211.'], bridgePrefix: UP_BRIDGE });
}

/**
 * A `berth up` suite's afterAll: closes the cluster, then restores the host and checks nothing of
 * the suite is left. Both steps always run; the first failure is thrown.
 */
export async function closeAndCheckHost(cluster: UpCluster | undefined, guard: HostGuard | undefined): Promise<void> {
  const failures: unknown[] = [];
  await cluster?.close().catch((e: unknown) => failures.push(e));
  try {
    guard?.restore();
    expect(guard?.changes() ?? []).toEqual([]);
  } catch (e) {
    failures.push(e);
  }
  if (failures.length > 0) throw failures[0];
}

/**
 * A one-node cluster: `berth up` as a child process with its own temp HOME, data dir and
 * ports, and a local registry (plain HTTP, on loopback) holding busybox as `<registry>/busybox:1`.
 * `close()` removes everything it started or that its tasks left, also after a failure.
 */
export class UpCluster {
  up!: BerthProcess;
  readonly cli: BerthCli;
  /** Every task id the test saw; cleanup looks for their traces. */
  readonly seen = new Set<string>();
  node = '';
  private bridgeExisted = true;
  private runcRootExisted = true;
  private registry: LocalRegistry | undefined;
  private admin: Promise<ApiAccess> | undefined;

  private constructor(
    readonly root: string,
    readonly apiUrl: string,
    private readonly apiPort: number,
    private readonly grpcPort: number,
    /** `oci:<dir>:1`, the busybox layout the registry was filled from */
    readonly layout: string,
  ) {
    this.cli = new BerthCli({ HOME: this.home }, this.workDir);
  }

  get home(): string {
    return join(this.root, 'home');
  }

  get workDir(): string {
    return join(this.root, 'work');
  }

  get dataDir(): string {
    return join(this.root, 'data');
  }

  /** DATA-DIR/admin.yaml, which `berth up` writes: the API's URL, the cluster CA and an admin token. */
  get adminConfigFile(): string {
    return join(this.dataDir, 'admin.yaml');
  }

  /** The cluster CA certificate: `berth up`'s control plane keeps its PKI under DATA-DIR/server. */
  get caFile(): string {
    return join(this.dataDir, 'server', 'pki', 'ca.pem');
  }

  /** The admin's access to the API (admin.yaml, read once per launch). */
  access(): Promise<ApiAccess> {
    this.admin ??= readAdminConfig(this.adminConfigFile).catch((e: unknown) => {
      this.admin = undefined;
      throw e;
    });
    return this.admin;
  }

  /** `HOST:PORT` of the local registry */
  get registryAddress(): string {
    if (!this.registry) throw new Error('the registry is not running');
    return this.registry.address;
  }

  /** busybox in the local registry */
  get image(): string {
    return `${this.registryAddress}/busybox:1`;
  }

  get scope(): NodeScope {
    return { node: this.node, runcRoot: defaultRuncRoot(this.node), dataDir: this.dataDir };
  }

  static async start(prefix: string): Promise<UpCluster> {
    if (!existsSync(BERTH_BIN)) throw new Error(`${BERTH_BIN} is missing: build first (npx tsc -b tsconfig.build.json)`);
    const root = await mkdtemp(join(tmpdir(), prefix));
    const layout = await buildBusyboxLayout(join(root, 'busybox'));
    const [apiPort, grpcPort] = [await freePort(), await freePort()];
    const cluster = new UpCluster(root, `https://127.0.0.1:${apiPort}`, apiPort, grpcPort, layout);
    cluster.registry = await startRegistry();
    await exec('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', layout, `docker://${cluster.image}`]);
    await mkdir(cluster.home);
    await mkdir(cluster.workDir);
    cluster.bridgeExisted = existsSync(`/sys/class/net/${UP_BRIDGE}`);
    await cluster.launch();
    cluster.node = (await cluster.cli.readyNodes(1))[0]!.metadata.name;
    cluster.runcRootExisted = existsSync(defaultRuncRoot(cluster.node));
    return cluster;
  }

  /** Starts `berth up` (again, after a stop or kill) with the same data dir and ports. */
  async launch(): Promise<void> {
    const args = ['up', '--data-dir', this.dataDir, '--api', `127.0.0.1:${this.apiPort}`, '--grpc', `127.0.0.1:${this.grpcPort}`];
    args.push('--insecure-registry', this.registryAddress);
    this.up = BerthProcess.start(args, { env: { HOME: this.home } });
    this.admin = undefined;
    await this.up.apiReady(this.apiUrl, { caFile: this.caFile, adminConfig: this.adminConfigFile });
  }

  /** Records the ids of `tasks` for cleanup and returns them unchanged. */
  remember<T extends { metadata: { name: string } }>(tasks: T[]): T[] {
    for (const t of tasks) this.seen.add(t.metadata.name);
    return tasks;
  }

  /**
   * Tasks the agent did not get to remove (the run failed or was cut short): the runc driver
   * destroys them from their stored handles, CNI DEL included, as the agent itself would.
   */
  private async destroyTasks(taskIds: readonly string[], network: CniNetwork): Promise<void> {
    const agentDir = join(this.dataDir, 'agent');
    const images = new ImageStore({ dir: join(agentDir, 'images') });
    const driver = new RuncDriver({ node: this.node, dataDir: join(agentDir, 'runtime'), images, network });
    for (const id of taskIds) {
      const stored = await readFile(join(agentDir, 'runtime', 'tasks', id, 'handle.json'), 'utf8').catch(() => undefined);
      if (stored) await driver.destroy(JSON.parse(stored) as TaskHandle).catch(() => undefined);
    }
  }

  /**
   * Kills `berth up` if it still runs, then removes what its tasks left (containers, mounts,
   * namespaces, cgroups), the bridge and runc root when this cluster created them, and the temp dir.
   */
  async close(): Promise<void> {
    await this.up?.kill();
    if (this.node) {
      // The agent keeps one directory per task it prepared: ids the test never listed are there too.
      const taskDirs = await readdir(join(this.dataDir, 'agent', 'runtime', 'tasks')).catch(() => []);
      const network = new CniNetwork({ nodeName: this.node, ipamDataDir: join(this.dataDir, 'agent', 'cni'), bridge: UP_BRIDGE });
      await this.destroyTasks(taskDirs, network);
      await removeTaskTraces(this.scope, [...new Set([...this.seen, ...taskDirs])]);
      if (!this.bridgeExisted) await network.destroyNode();
      if (!this.runcRootExisted && (await runcContainers(this.scope.runcRoot).catch(() => [])).length === 0) {
        await rm(join(this.scope.runcRoot, '..'), { recursive: true, force: true });
        await rmdir('/run/berth').catch(() => undefined); // only when no other node uses it
      }
    }
    await this.registry?.stop();
    await rm(this.root, { recursive: true, force: true });
  }
}

import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildBusyboxLayout, mountsUnder } from '../../support/node-host';
import { requireTools } from '../../support/prereq';
import { startRegistry, type LocalRegistry } from '../../support/registry';
import { BERTH_BIN, eventually, freePort } from '../support/berth-cli';
import { BerthProcess } from '../support/berth-process';
import { BerthCli, type ServiceSketch, type TaskJson } from '../support/cluster';
import { HostGuard } from '../support/host-guard';
import { LAB_PREFIX, NetnsLab, type LabHost } from '../support/netns-lab';
import { defaultRuncRoot, removeTaskTraces, runcContainers, taskTraces, type NodeScope } from '../support/node-traces';

const exec = promisify(execFile);
const ready = requireTools(['etcd', 'runc', 'conmon', 'skopeo', 'umoci', 'busybox', 'curl', 'docker-registry', 'ip', 'nsenter', 'iptables', 'iptables-save', 'nft', 'unshare'], {
  root: true,
});

// The lab network and each agent's task subnet: clear of berth's default (10.211.0.0/16),
// Docker's (172.17/16, 172.18/16, 10.0.0.0/24) and the integration suites' (10.231–10.233).
const LAB_NET = '10.241.0';
const SUBNETS = ['10.242.0.0/24', '10.243.0.0/24'];
const SERVE_HOSTNAME = ['sh', '-c', 'mkdir -p /www && echo $HOSTNAME > /www/index.html && exec httpd -f -p 8080 -h /www'];

/** One `berth agent` in its own namespace, with everything that is its alone. */
interface Agent {
  readonly node: string;
  readonly host: LabHost;
  readonly dataDir: string;
  readonly bridge: string;
  readonly subnet: string;
  process?: BerthProcess;
}

const scopeOf = (a: Agent): NodeScope => ({ node: a.node, runcRoot: defaultRuncRoot(a.node), dataDir: a.dataDir });

describe.runIf(ready)('two agents in two network namespaces act as two hosts', () => {
  let root: string;
  let lab: NetnsLab | undefined;
  let registry: LocalRegistry | undefined;
  let server: BerthProcess | undefined;
  let guard: HostGuard;
  let cli: BerthCli;
  let agents: Agent[] = [];
  let web: ServiceSketch;
  const runningOn = (tasks: TaskJson[], a: Agent) => tasks.filter((t) => t.status.node === a.node);

  beforeAll(async () => {
    if (!existsSync(BERTH_BIN)) throw new Error(`${BERTH_BIN} is missing: build first (npx tsc -b tsconfig.build.json)`);
    // The agents' CNI networks live in their namespaces: none of their rules may show up on the host.
    guard = HostGuard.capture({ ownNetworks: [], marks: [`${LAB_NET}.`, '10.242.0.', '10.243.0.', `berth-${LAB_PREFIX}`], bridgePrefix: LAB_PREFIX });
    root = await mkdtemp(join(tmpdir(), 'berth-e2e-2h-'));
    lab = await NetnsLab.create({ net: LAB_NET, hosts: 2 });
    agents = lab.hosts.map((host, i) => ({
      node: `${lab!.prefix}-n${i}`,
      host,
      dataDir: join(root, `agent-${i}`),
      bridge: `tb${i}`,
      subnet: SUBNETS[i]!,
    }));
    const home = join(root, 'home');
    await mkdir(home);
    await mkdir(join(root, 'work'));

    // The registry listens on the lab bridge: the agents cannot reach the host's loopback.
    registry = await startRegistry({ host: lab.bridgeAddress });
    const layout = await buildBusyboxLayout(join(root, 'busybox'));
    await exec('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', layout, `docker://${registry.address}/busybox:1`]);
    web = { name: 'web', image: `${registry.address}/busybox:1`, replicas: 4, command: SERVE_HOSTNAME, memory: '32Mi' };

    const [apiPort, grpcPort] = [await freePort(), await freePort()];
    const grpc = `${lab.bridgeAddress}:${grpcPort}`;
    server = BerthProcess.start(['server', '--data-dir', join(root, 'server'), '--api', `127.0.0.1:${apiPort}`, '--grpc', grpc], { env: { HOME: home } });
    await server.apiReady(`https://127.0.0.1:${apiPort}`, { caFile: join(root, 'server', 'pki', 'ca.pem'), adminConfig: join(root, 'server', 'admin.yaml') });
    cli = new BerthCli({ HOME: home }, join(root, 'work'));
    const token = await cli.joinToken();
    for (const a of agents) {
      const args = ['agent', '--server', grpc, '--token', token, '--name', a.node, '--data-dir', a.dataDir, '--bridge', a.bridge, '--subnet', a.subnet];
      a.process = BerthProcess.start([...args, '--insecure-registry', registry.address, '--address', a.host.address], { env: { HOME: home }, prefix: lab.nsenter(a.host) });
    }
    await cli.readyNodes(2);
  });

  afterAll(async () => {
    const failures: unknown[] = [];
    const step = async (fn: () => unknown) => {
      try {
        await fn();
      } catch (e) {
        failures.push(e);
      }
    };
    for (const a of agents) await step(() => a.process?.kill());
    await step(() => server?.kill());
    for (const a of agents) {
      await step(async () => {
        const ids = await readdir(join(a.dataDir, 'runtime', 'tasks')).catch(() => []);
        await removeTaskTraces(scopeOf(a), [...new Set([...ids, ...(await runcContainers(defaultRuncRoot(a.node)).catch(() => []))])]);
        await rm(join(defaultRuncRoot(a.node), '..'), { recursive: true, force: true });
      });
    }
    await step(() => exec('rmdir', ['/run/berth']).catch(() => undefined)); // only when no other node uses it
    // Each agent's bridge, IPAM-routed addresses and iptables rules live in its namespace and go with it.
    await step(() => lab?.destroy());
    await step(() => registry?.stop());
    if (root) await step(() => rm(root, { recursive: true, force: true }));
    await step(() => guard?.restore());
    await step(() => expect(guard?.changes() ?? []).toEqual([]));
    if (failures.length > 0) throw failures[0];
  });

  it('both agents registered with their own addresses', async () => {
    const nodes = await cli.nodes();
    for (const a of agents) {
      const node = nodes.find((n) => n.metadata.name === a.node);
      expect(node?.status).toMatchObject({ state: 'ready', address: a.host.address });
    }
  });

  it('apply --wait spreads 4 replicas 2 and 2, pulled from the registry', async () => {
    const r = await cli.apply(web, ['--wait']);
    expect(r.code, r.stderr).toBe(0);
    const tasks = await cli.running('web');
    expect(tasks).toHaveLength(4);
    expect(agents.map((a) => runningOn(tasks, a).length)).toEqual([2, 2]);
  });

  it("each agent's containers, bridge and addresses stay in its own namespace and data dir", async () => {
    const tasks = await cli.running('web');
    for (const [i, a] of agents.entries()) {
      const mine = runningOn(tasks, a);
      const ids = mine.map((t) => t.metadata.name).sort();
      const prefix = a.subnet.replace(/0\/24$/, '');
      for (const t of mine) expect(t.status.ip?.startsWith(prefix), `${t.metadata.name} ${t.status.ip} in ${a.subnet}`).toBe(true);
      expect((await runcContainers(defaultRuncRoot(a.node))).sort()).toEqual(ids);
      expect((await readdir(join(a.dataDir, 'runtime', 'tasks'))).sort()).toEqual(ids);
      const leases = await readdir(join(a.dataDir, 'cni', `berth-${a.node}`));
      for (const t of mine) expect(leases).toContain(t.status.ip);
      expect((await mountsUnder(a.dataDir)).filter((m) => m.endsWith('/rootfs'))).toHaveLength(2);
      // The task bridge exists in the agent's namespace only, with a route to the agent's subnet.
      expect(await lab!.ipIn(a.host, ['-o', 'link', 'show', a.bridge])).toContain(a.bridge);
      expect(existsSync(`/sys/class/net/${a.bridge}`)).toBe(false);
      expect(await lab!.ipIn(a.host, ['route', 'show', a.subnet])).toContain(a.bridge);
      expect((await exec('ip', ['route', 'show', a.subnet])).stdout.trim()).toBe('');
      // Reachable from its own host (namespace), and not from the other one.
      const other = agents[1 - i]!;
      for (const t of mine) {
        // curl, not the host's static busybox: its wget crashes on this glibc (NSS from a static binary).
        const get = ['curl', '-sS', '--max-time', '3', `http://${t.status.ip}:8080/`];
        const body = await eventually(`${t.status.ip} from ${a.host.netns}`, async () =>
          exec('nsenter', [`--net=${a.host.netnsPath}`, ...get]).then((r) => r.stdout.trim(), () => undefined),
        );
        expect(body).toBe(t.metadata.name);
        const fromOther = await exec('nsenter', [`--net=${other.host.netnsPath}`, ...get]).then(() => 'answered', () => 'unreachable');
        expect(fromOther).toBe('unreachable');
      }
    }
  });

  it('delete removes every container, mount, namespace and cgroup on both hosts', async () => {
    const ids = (await cli.tasks('web')).map((t) => t.metadata.name);
    expect((await cli.run(['delete', 'service', 'web'])).code).toBe(0);
    await cli.tasksGone('web');
    const traces = async () => (await Promise.all(agents.map((a) => taskTraces(scopeOf(a), ids)))).flat();
    await eventually('both agents to remove every trace', async () => ((await traces()).length === 0 ? true : undefined)).catch(() => undefined);
    expect(await traces()).toEqual([]);
  });

  it('SIGTERM stops the agents and the server with exit 0', async () => {
    for (const a of agents) expect(await a.process!.stop('SIGTERM')).toEqual({ code: 0, signal: null });
    expect(await server!.stop('SIGTERM')).toEqual({ code: 0, signal: null });
  });
});

import { execFileSync } from 'node:child_process';
import { createServer } from 'node:net';
import { GenericContainer, Network, type StartedNetwork, type StartedTestContainer } from 'testcontainers';
import { ETCD_IMAGE, etcdReady } from '../../support/etcd-image';

/** One etcd container with its client port published on a fixed loopback port (stable across restarts). */
export interface EtcdMember {
  readonly name: string;
  readonly endpoint: string;
  readonly container: StartedTestContainer;
  /** `docker kill` (SIGKILL): the member dies without a goodbye. */
  kill(): void;
  /** `docker start` after a kill; resolves when it serves clients again. */
  restart(): Promise<void>;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

function memberArgs(name: string, cluster: string | undefined, extra: readonly string[]): string[] {
  const peer = `http://${cluster ? name : '127.0.0.1'}:2380`;
  return [
    '--name', name,
    '--data-dir', '/tmp/etcd',
    '--listen-client-urls', 'http://0.0.0.0:2379',
    '--advertise-client-urls', `http://${name}:2379`,
    '--listen-peer-urls', cluster ? 'http://0.0.0.0:2380' : peer,
    '--initial-advertise-peer-urls', peer,
    '--initial-cluster', cluster ?? `${name}=${peer}`,
    '--initial-cluster-state', 'new',
    ...extra,
  ];
}

async function startMember(name: string, opts: { network?: StartedNetwork; cluster?: string; extra?: readonly string[] }): Promise<EtcdMember> {
  const hostPort = await freePort();
  let builder = new GenericContainer(ETCD_IMAGE)
    .withCommand(memberArgs(name, opts.cluster, opts.extra ?? []))
    .withExposedPorts({ container: 2379, host: hostPort })
    .withWaitStrategy(etcdReady())
    .withStartupTimeout(60_000);
  if (opts.network) builder = builder.withNetwork(opts.network).withNetworkAliases(name);
  const container = await builder.start();
  const id = container.getId();
  return {
    name,
    endpoint: `http://127.0.0.1:${hostPort}`,
    container,
    kill: () => execFileSync('docker', ['kill', id], { stdio: 'ignore' }),
    restart: async () => {
      const before = countLog(id, READY);
      execFileSync('docker', ['start', id], { stdio: 'ignore' });
      await waitForLog(id, READY, before + 1);
    },
  };
}

const READY = /ready to serve client requests/g;

function countLog(id: string, pattern: RegExp): number {
  const text = execFileSync('sh', ['-c', `docker logs ${id} 2>&1`], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  return text.match(pattern)?.length ?? 0;
}

/** Waits until `pattern` (global) has appeared `count` times in the container's log. */
async function waitForLog(id: string, pattern: RegExp, count: number): Promise<void> {
  for (let i = 0; i < 600; i++) {
    if (countLog(id, pattern) >= count) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`container ${id} never logged ${pattern} ${count} times`);
}

export function startSingle(extra: readonly string[] = []): Promise<EtcdMember> {
  return startMember('etcd0', { extra });
}

export interface EtcdCluster {
  readonly members: EtcdMember[];
  readonly endpoints: string[];
  stop(): Promise<void>;
}

/** Three members on their own docker network; `stop` removes containers and the network. */
export async function startCluster(): Promise<EtcdCluster> {
  const network = await new Network().start();
  const names = ['e0', 'e1', 'e2'];
  const cluster = names.map((n) => `${n}=http://${n}:2380`).join(',');
  const started = await Promise.allSettled(names.map((name) => startMember(name, { network, cluster })));
  const members = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  const stop = async () => {
    await Promise.allSettled(members.map((m) => m.container.stop({ timeout: 1 })));
    await network.stop();
  };
  const failed = started.find((s) => s.status === 'rejected');
  if (failed) {
    await stop();
    throw (failed as PromiseRejectedResult).reason;
  }
  return { members, endpoints: members.map((m) => m.endpoint), stop };
}

import { get as httpsGet } from 'node:https';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { RunningAgent } from '@berth/agent';
import { createEtcdClient, EmbeddedEtcd, EMBEDDED_MAX_TXN_OPS, keyspace, type Etcd3 } from '@berth/store';
import { BERTH_BIN, collect, freePort } from '../e2e/support/berth-cli';
import { apiFetch, apiJson, createToken, readAdminConfig, type ApiAccess, type ApiRequestInit } from '../support/api';
import { startHollowAgent } from '../support/hollow-agent';

/** VmRSS of a process in bytes (from /proc/PID/status); undefined once it is gone. */
export async function rssOf(pid: number | undefined): Promise<number | undefined> {
  if (pid === undefined) return undefined;
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  const kb = /^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1];
  return kb === undefined ? undefined : Number(kb) * 1024;
}

/** CPU seconds (user + system) a process has used so far, from /proc/PID/stat. */
export async function cpuSecondsOf(pid: number | undefined): Promise<number | undefined> {
  if (pid === undefined) return undefined;
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  // Fields after the command name (which may hold spaces) start at ") ".
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const [utime, stime] = [Number(fields[11]), Number(fields[12])];
  return Number.isFinite(utime) && Number.isFinite(stime) ? (utime + stime) / 100 : undefined; // USER_HZ = 100
}

export interface HollowClusterOptions {
  readonly root: string;
  readonly nodes: number;
  /** Where the agents keep their state files (default: under `root`). */
  readonly agentsDir?: string;
  /** Extra node flags for the control plane (`--cpu-prof --cpu-prof-dir DIR`). */
  readonly nodeFlags?: readonly string[];
}

/**
 * One real control plane (`berth server`, the built CLI, as a child process) on a real etcd (the
 * embedded etcd `berth up` starts, here started by the benchmark so its pid and endpoint are
 * known), and N hollow nodes: the real agent (session, worker, state files) over the hollow
 * driver, all in this process, each with its own gRPC session.
 */
export class HollowCluster {
  readonly agents: RunningAgent[] = [];
  private cpOutput: { stdout(): string; stderr(): string } | undefined;
  private admin: Promise<ApiAccess> | undefined;

  private constructor(
    readonly etcd: EmbeddedEtcd,
    readonly cp: ChildProcess,
    readonly apiUrl: string,
    readonly grpcAddress: string,
    /** `berth server`'s data dir: it writes admin.yaml there. */
    readonly cpDataDir: string,
  ) {}

  static async start(o: HollowClusterOptions): Promise<HollowCluster> {
    const etcd = await EmbeddedEtcd.start({ dataDir: join(o.root, 'etcd') });
    const [api, grpc] = [await freePort(), await freePort()];
    await mkdir(join(o.root, 'home'), { recursive: true });
    const cp = spawn(
      process.execPath,
      [...(o.nodeFlags ?? []), BERTH_BIN, 'server', '--data-dir', join(o.root, 'cp'), '--etcd', etcd.endpoints.join(','), '--etcd-ca', etcd.clientFiles.caFile, '--etcd-cert', etcd.clientFiles.certFile, '--etcd-key', etcd.clientFiles.keyFile, '--etcd-max-txn-ops', String(EMBEDDED_MAX_TXN_OPS), '--api', `127.0.0.1:${api}`, '--grpc', `127.0.0.1:${grpc}`],
      { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: join(o.root, 'home') }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const cluster = new HollowCluster(etcd, cp, `https://127.0.0.1:${api}`, `127.0.0.1:${grpc}`, join(o.root, 'cp'));
    cluster.cpOutput = collect(cp);
    try {
      await cluster.untilLeader();
      const token = await cluster.joinToken();
      for (let i = 0; i < o.nodes; i++) {
        const name = `hollow-${String(i + 1).padStart(3, '0')}`;
        cluster.agents.push(await startHollowAgent({ server: cluster.grpcAddress, name, dataDir: join(o.agentsDir ?? join(o.root, 'agents'), name), token }));
      }
      await cluster.untilReadyNodes(o.nodes);
    } catch (e) {
      await cluster.stop();
      throw e;
    }
    return cluster;
  }

  /** The admin's access to the API: `<root>/cp/admin.yaml`, which `berth server` writes once it listens. */
  access(): Promise<ApiAccess> {
    this.admin ??= readAdminConfig(join(this.cpDataDir, 'admin.yaml')).catch((e: unknown) => {
      this.admin = undefined;
      throw e;
    });
    return this.admin;
  }

  /** A join token from the API with the admin's token (`berth token create --role join`): what every hollow node joins with. */
  async joinToken(): Promise<string> {
    return (await createToken(await this.access(), 'join', 'hollow nodes')).token;
  }

  get cpPid(): number | undefined {
    return this.cp.exitCode === null ? this.cp.pid : undefined;
  }

  /** A client of the cluster's etcd, for reading what the control plane committed. */
  etcdClient(): Etcd3 {
    return createEtcdClient({ endpoints: this.etcd.endpoints, tls: this.etcd.clientTls });
  }

  readonly keys = keyspace();

  /** `path` of the API as the admin (https, the cluster CA, the admin token), as JSON. */
  async api<T>(path: string, init?: ApiRequestInit): Promise<T> {
    return apiJson<T>(await this.access(), path, init);
  }

  /** etcd's own Prometheus metrics (proposals, fsyncs), read with its client certificate (it speaks mutual TLS only). */
  etcdMetrics(): Promise<string> {
    const tls = this.etcd.clientTls;
    return new Promise((resolve, reject) => {
      const req = httpsGet(`${this.etcd.endpoints[0]}/metrics`, { ca: tls.ca, cert: tls.cert, key: tls.key, timeout: 10_000 }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => (res.statusCode === 200 ? resolve(text) : reject(new Error(`etcd /metrics: HTTP ${res.statusCode}`))));
      });
      req.on('timeout', () => req.destroy(new Error('etcd /metrics: no answer in 10 s')));
      req.on('error', reject);
    });
  }

  /** The control plane's /metrics, read with the admin token. */
  async metrics(): Promise<string> {
    return (await apiFetch(await this.access(), '/metrics')).text();
  }

  /** Control-plane output so far (for a failure message). */
  output(): string {
    return `${this.cpOutput?.stdout() ?? ''}${this.cpOutput?.stderr() ?? ''}`;
  }

  private async untilLeader(): Promise<void> {
    for (let i = 0; i < 600; i++) {
      if (this.cp.exitCode !== null) throw new Error(`berth server exited (${this.cp.exitCode}):\n${this.output()}`);
      const text = await this.metrics().catch(() => '');
      if (/^berth_leader 1$/m.test(text)) return;
      await sleep(100);
    }
    throw new Error(`berth server did not become leader within 60 s:\n${this.output()}`);
  }

  private async untilReadyNodes(n: number): Promise<void> {
    for (let i = 0; i < 1200; i++) {
      const nodes = await this.api<{ status: { state: string } }[]>('/api/v1/nodes').catch(() => []);
      if (nodes.filter((x) => x.status.state === 'ready').length >= n) return;
      await sleep(100);
    }
    throw new Error(`${n} hollow nodes did not all become ready within 2 minutes`);
  }

  /** Stops the agents, then the control plane (SIGTERM, so a --cpu-prof profile is written), then etcd. */
  async stop(): Promise<void> {
    await Promise.allSettled(this.agents.splice(0).map((a) => a.stop()));
    if (this.cp.exitCode === null && this.cp.signalCode === null) {
      const exited = once(this.cp, 'exit');
      this.cp.kill('SIGTERM');
      const timer = setTimeout(() => this.cp.kill('SIGKILL'), 30_000);
      await exited;
      clearTimeout(timer);
    }
    await this.etcd.stop();
  }
}

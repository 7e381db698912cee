import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { apiFetch, readAdminConfig, type ApiAccess } from '../../support/api';
import { BERTH_BIN, childProcesses, collect, eventually, killIfAlive } from './berth-cli';

/**
 * `berth server` as a child process, the way an operator runs it. `stop()` sends SIGTERM and
 * reports how it ended; `kill()` is the cleanup of last resort (SIGKILL to it and its etcd).
 */
export class BerthServerProcess {
  private constructor(
    private readonly child: ChildProcess,
    private readonly output: { stdout(): string; stderr(): string },
    readonly apiUrl: string,
    readonly dataDir: string,
  ) {}

  static start(opts: { home: string; dataDir: string; apiPort: number; grpcPort: number }): BerthServerProcess {
    const args = ['server', '--data-dir', opts.dataDir, '--api', `127.0.0.1:${opts.apiPort}`, '--grpc', `127.0.0.1:${opts.grpcPort}`];
    const child = spawn(process.execPath, [BERTH_BIN, ...args], {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: opts.home },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    return new BerthServerProcess(child, collect(child), `https://127.0.0.1:${opts.apiPort}`, opts.dataDir);
  }

  get pid(): number {
    if (this.child.pid === undefined) throw new Error('berth server did not start');
    return this.child.pid;
  }

  stderr(): string {
    return this.output.stderr();
  }

  /** DATA-DIR/admin.yaml: the API's URL, the cluster CA and an admin token (mode 0600). */
  get adminConfigFile(): string {
    return join(this.dataDir, 'admin.yaml');
  }

  /** DATA-DIR/pki/ca.pem: the cluster CA, which issued the API's certificate. */
  get caFile(): string {
    return join(this.dataDir, 'pki', 'ca.pem');
  }

  /** The admin's access to the API, as admin.yaml holds it. */
  access(): Promise<ApiAccess> {
    return readAdminConfig(this.adminConfigFile);
  }

  /**
   * Waits until /readyz answers 200 over https (etcd reachable; checked against the cluster CA once
   * DATA-DIR/pki/ca.pem is there) and startup has ended; fails early if the server exits.
   */
  async ready(): Promise<void> {
    await eventually(`${this.apiUrl}/readyz\n${this.stderr()}`, async () => {
      if (this.child.exitCode !== null) throw new Error(`berth server exited with ${this.child.exitCode}:\n${this.stderr()}`);
      const ca = await readFile(this.caFile, 'utf8').catch(() => undefined);
      if (!ca?.includes('-----END CERTIFICATE-----')) return undefined;
      const res = await apiFetch({ server: this.apiUrl, ca }, '/readyz', { timeoutMs: 5000 }).catch(() => undefined);
      // The config files are written after the API answers; the startup ends with this line.
      return res?.status === 200 && this.stderr().includes('press Ctrl-C to stop') ? true : undefined;
    });
  }

  /** The embedded etcd's client URL, from the server's startup line. */
  etcdEndpoint(): string {
    return this.etcdLine()[1]!.split(',')[0]!;
  }

  /** etcdctl's flags for the embedded etcd: its endpoint and the client certificate the startup line names. */
  etcdctlFlags(): string[] {
    const m = this.etcdLine();
    return ['--endpoints', this.etcdEndpoint(), '--cacert', m[2]!, '--cert', m[3]!, '--key', m[4]!];
  }

  private etcdLine(): RegExpExecArray {
    const m = /berth: etcd embedded at (\S+) \(mutual TLS: --cacert (\S+) --cert (\S+) --key (\S+)\)/.exec(this.stderr());
    if (!m) throw new Error(`no etcd line in:\n${this.stderr()}`);
    return m;
  }

  children(): { pid: number; comm: string }[] {
    return childProcesses(this.pid);
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) {
      return { code: this.child.exitCode, signal: this.child.signalCode };
    }
    const exited = once(this.child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
    this.child.kill(signal);
    const [code, sig] = await exited;
    return { code, signal: sig };
  }

  /** SIGKILL the server and its children (etcd) if anything is left. */
  kill(): void {
    if (this.child.pid === undefined) return;
    for (const c of childProcesses(this.child.pid)) killIfAlive(c.pid);
    killIfAlive(this.child.pid);
  }
}

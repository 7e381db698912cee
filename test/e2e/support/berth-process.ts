import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { apiFetch, readAdminConfig } from '../../support/api';
import { BERTH_BIN, childProcesses, collect, eventually, isAlive, killIfAlive } from './berth-cli';

export interface BerthProcessOptions {
  /** The whole environment of the child besides PATH (HOME decides where the client config goes). */
  readonly env: Record<string, string>;
  /**
   * A command the berth process runs under, e.g. `['nsenter', '--net=/run/netns/x']`. It must
   * exec berth (nsenter does for a network namespace), so `pid` is berth's own.
   */
  readonly prefix?: readonly string[];
}

/**
 * A long-running berth command (`up`, `server`, `agent`) as a child process, the way an operator
 * runs it. `stop()` signals it and reports how it ended; `kill()` is the cleanup of last resort
 * (SIGKILL to it and its direct children, by PID).
 */
export class BerthProcess {
  private constructor(
    private readonly child: ChildProcess,
    private readonly output: { stdout(): string; stderr(): string },
    readonly args: readonly string[],
  ) {}

  static start(args: readonly string[], opts: BerthProcessOptions): BerthProcess {
    const [file, ...argv] = [...(opts.prefix ?? []), process.execPath, BERTH_BIN, ...args];
    const child = spawn(file!, argv, {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    return new BerthProcess(child, collect(child), args);
  }

  get pid(): number {
    if (this.child.pid === undefined) throw new Error(`berth ${this.args.join(' ')} did not start`);
    return this.child.pid;
  }

  get exited(): boolean {
    return this.child.exitCode !== null || this.child.signalCode !== null;
  }

  stderr(): string {
    return this.output.stderr();
  }

  /** Waits for a line on stderr matching `pattern`; fails early (with the output) if the process exits. */
  async waitForOutput(pattern: RegExp, deadlineMs = 60_000): Promise<RegExpExecArray> {
    return eventually(
      `berth ${this.args[0]} to print ${pattern}`,
      async () => {
        const m = pattern.exec(this.stderr());
        if (m) return m;
        if (this.exited) throw new Error(`berth ${this.args.join(' ')} exited (${this.child.exitCode ?? this.child.signalCode}):\n${this.stderr()}`);
        return undefined;
      },
      deadlineMs,
    );
  }

  /**
   * Waits until `${apiUrl}/readyz` (https; open without a token) answers 200, and, with
   * `adminConfig`, until that file (admin.yaml) is complete; fails early if the process exits.
   * The server's certificate is checked against the cluster CA, read from `caFile` (the control
   * plane's DATA-DIR/pki/ca.pem) once the process has written it: readiness is no reason to trust
   * whatever answers on the port.
   */
  async apiReady(apiUrl: string, o: { readonly caFile: string; readonly adminConfig?: string }): Promise<void> {
    await eventually(`${apiUrl}/readyz (CA ${o.caFile}${o.adminConfig ? `, then ${o.adminConfig}` : ''})`, async () => {
      if (this.exited) throw new Error(`berth ${this.args.join(' ')} exited (${this.child.exitCode ?? this.child.signalCode}):\n${this.stderr()}`);
      const ca = await readFile(o.caFile, 'utf8').catch(() => undefined);
      if (!ca?.includes('-----END CERTIFICATE-----')) return undefined;
      const res = await apiFetch({ server: apiUrl, ca }, '/readyz', { timeoutMs: 5000 }).catch(() => undefined);
      if (res?.status !== 200) return undefined;
      if (o.adminConfig && !(await readAdminConfig(o.adminConfig).catch(() => undefined))) return undefined;
      return true;
    });
  }

  children(): { pid: number; comm: string }[] {
    return this.exited ? [] : childProcesses(this.pid);
  }

  /** Sends `signal` and resolves with how the process ended. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (!this.exited) {
      const exited = once(this.child, 'exit');
      this.child.kill(signal);
      await exited;
    }
    return { code: this.child.exitCode, signal: this.child.signalCode };
  }

  /** SIGKILL to the process and its direct children (embedded etcd), if anything is left. */
  async kill(): Promise<void> {
    if (this.child.pid === undefined || this.exited) return;
    const children = childProcesses(this.child.pid);
    const exited = once(this.child, 'exit');
    killIfAlive(this.child.pid);
    await exited;
    for (const c of children) killIfAlive(c.pid);
    await eventually('the children of a killed berth process to end', async () => (children.some((c) => isAlive(c.pid)) ? undefined : true), 15_000);
  }
}

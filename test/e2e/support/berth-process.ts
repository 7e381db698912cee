import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
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

  /** Waits until `${apiUrl}/readyz` answers 200; fails early if the process exits. */
  async apiReady(apiUrl: string): Promise<void> {
    await eventually(`${apiUrl}/readyz`, async () => {
      if (this.exited) throw new Error(`berth ${this.args.join(' ')} exited (${this.child.exitCode ?? this.child.signalCode}):\n${this.stderr()}`);
      const res = await fetch(`${apiUrl}/readyz`, { signal: AbortSignal.timeout(5000) }).catch(() => undefined);
      return res?.status === 200 ? true : undefined;
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

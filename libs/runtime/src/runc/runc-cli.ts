import { runCommand } from '../command';
import { CommandFailedError } from '../errors';

/** `runc state` output, the fields berth reads. */
export interface RuncState {
  readonly id: string;
  /** 0 once stopped. */
  readonly pid: number;
  readonly status: 'creating' | 'created' | 'running' | 'pausing' | 'paused' | 'stopped';
  readonly bundle: string;
}

/**
 * The only place that spawns `runc`. Every call uses the node's own `--root` (so several agents
 * on one machine never see each other's containers) and a deadline. conmon invokes `runc create`
 * itself; this adapter covers everything else.
 */
export class RuncCli {
  constructor(
    readonly binary: string,
    readonly root: string,
    private readonly timeoutMs = 30_000,
  ) {}

  /** The arguments conmon passes before its own `create …` to reach this node's state. */
  get globalArgs(): string[] {
    return [`--root=${this.root}`];
  }

  /** The container's state, or undefined when runc does not know the id. */
  async state(id: string): Promise<RuncState | undefined> {
    try {
      const { stdout } = await this.run(['state', id]);
      return JSON.parse(stdout) as RuncState;
    } catch (e) {
      if (isMissing(e)) return undefined;
      throw e;
    }
  }

  async start(id: string): Promise<void> {
    await this.run(['start', id]);
  }

  /** Signals the container's init process; a container that is gone or stopped is not an error. */
  async kill(id: string, signal: 'SIGTERM' | 'SIGKILL'): Promise<void> {
    try {
      await this.run(['kill', id, signal]);
    } catch (e) {
      if (isMissing(e) || (e instanceof CommandFailedError && /not running|process already finished/i.test(e.detail))) return;
      throw e;
    }
  }

  /** Kills (if needed) and forgets the container, removing its cgroup. Idempotent. */
  async deleteForce(id: string): Promise<void> {
    try {
      await this.run(['delete', '--force', id]);
    } catch (e) {
      if (!isMissing(e)) throw e;
    }
  }

  private run(args: string[]) {
    return runCommand(this.binary, [...this.globalArgs, ...args], { timeoutMs: this.timeoutMs });
  }
}

function isMissing(e: unknown): boolean {
  return e instanceof CommandFailedError && /does not exist|not found/i.test(e.detail);
}

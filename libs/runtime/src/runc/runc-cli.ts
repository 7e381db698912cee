import { spawn, type ChildProcess } from 'node:child_process';
import { readFile, rm } from 'node:fs/promises';
import { constants } from 'node:os';
import { boundedOutput, runCommand, toolMessage } from '../command';
import type { TerminalSize } from '../driver';
import { CommandFailedError } from '../errors';
import { killSession, readPid } from './task-process';

/** `runc state` output, the fields berth reads. */
export interface RuncState {
  readonly id: string;
  /** 0 once stopped. */
  readonly pid: number;
  readonly status: 'creating' | 'created' | 'running' | 'pausing' | 'paused' | 'stopped';
  readonly bundle: string;
}

/** How a `runc exec` ended; see RuncCli.exec. */
export interface RuncExecResult {
  /** undefined when the command was killed at its deadline or on abort. */
  readonly exitCode?: number;
  readonly timedOut: boolean;
  readonly output: string;
}

export interface RuncExecOptions {
  readonly timeoutMs: number;
  /** Where runc writes the command's host pid: how a hung command is found and killed. */
  readonly pidFile: string;
  readonly outputLimit: number;
  readonly signal?: AbortSignal;
}

export interface RuncExecSpawnOptions {
  /** Where runc writes the command's host pid once the command runs. */
  readonly pidFile: string;
  /** Runs the command on a terminal of this size; without it the command's stdio are pipes. */
  readonly terminal?: TerminalSize;
}

/** runc's own exit code when it could not start the command (not found, container stopped…). */
const RUNC_FAILED = 255;
/** How long runc may linger after its command was killed before it is killed too. */
const RUNC_LINGER_MS = 2_000;

/**
 * The only place that spawns `runc`. Every call uses the node's own `--root` (so several agents
 * on one machine never see each other's containers) and a deadline. conmon invokes `runc create`
 * itself; this adapter covers everything else.
 */
export class RuncCli {
  constructor(
    readonly binary: string,
    readonly root: string,
    /** Deadline of each runc call (and of an exec's start). */
    readonly timeoutMs = 30_000,
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

  /**
   * Runs `argv` in container `id` with the container's own process settings (env, user, cwd,
   * capabilities). runc makes the command a session leader, so at the deadline (or on abort) the
   * session named by the pid in `pidFile` is killed with everything it started; runc then exits,
   * and is killed itself if it lingers. Rejects with the abort reason when `signal` aborted it.
   */
  async exec(id: string, argv: readonly string[], o: RuncExecOptions): Promise<RuncExecResult> {
    const child = spawn(this.binary, [...this.globalArgs, 'exec', '--pid-file', o.pidFile, id, ...argv], { stdio: ['ignore', 'pipe', 'pipe'] });
    const output = boundedOutput([child.stdout, child.stderr], o.outputLimit);
    const exited = new Promise<number>((resolve, reject) =>
      child.once('exit', (code, signal) => resolve(code ?? 128 + (signal ? constants.signals[signal] : 0))).once('error', reject),
    );
    let killed: 'deadline' | 'abort' | undefined;
    const kill = (why: 'deadline' | 'abort'): void => {
      killed ??= why;
      void this.killExec(child, o.pidFile).catch(() => child.kill('SIGKILL'));
    };
    const timer = setTimeout(() => kill('deadline'), o.timeoutMs);
    const onAbort = (): void => kill('abort');
    if (o.signal?.aborted) onAbort();
    else o.signal?.addEventListener('abort', onAbort, { once: true });
    let code: number;
    try {
      code = await exited;
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      throw new CommandFailedError(`${this.binary} exec ${id}`, err.code === 'ENOENT' ? `${this.binary} is not installed` : err.message);
    } finally {
      clearTimeout(timer);
      o.signal?.removeEventListener('abort', onAbort);
    }
    // The command may have started between the kill's look at the pid file and runc's end.
    if (killed) await killSession((await readPid(o.pidFile)) ?? 0);
    await rm(o.pidFile, { force: true });
    const text = await output.text(100);
    if (killed === 'abort') throw o.signal?.reason ?? new Error('aborted');
    if (killed === 'deadline') return { timedOut: true, output: text };
    return { exitCode: code, timedOut: false, output: code === RUNC_FAILED ? runcMessages(text) : text };
  }

  /**
   * Spawns `runc exec` for `argv` in container `id` and returns at once; the child's stdio are the
   * command's (runc relays them). With `terminal`, runc's foreground `exec -t` needs a terminal on
   * its own stdio to relay between it and the container's: util-linux `script` gives it one (raw,
   * no echo, of that size), so the child is script, runc its only child, and the child's stdout
   * carries the terminal's output. The caller ends it with `killExec` or waits for its exit.
   */
  spawnExec(id: string, argv: readonly string[], o: RuncExecSpawnOptions): ChildProcess {
    // runc 1.1 takes no `--`: everything after the container id is the command.
    const args = [...this.globalArgs, 'exec', ...(o.terminal ? ['-t'] : []), '--pid-file', o.pidFile, id, ...argv];
    if (!o.terminal) return spawn(this.binary, args, { stdio: 'pipe' });
    const { rows, cols } = o.terminal;
    const inner = `stty raw -echo rows ${rows} cols ${cols} && exec ${[this.binary, ...args].map(shellQuote).join(' ')}`;
    // script runs `$SHELL -c`: the inner line is POSIX sh, whatever shell the agent was started from.
    return spawn('script', ['-q', '-e', '-c', inner, '/dev/null'], { stdio: 'pipe', env: { ...process.env, SHELL: '/bin/sh' } });
  }

  /**
   * Kills the session of the command `child` started (its pid is in `pidFile`), then `child` and
   * its own children (runc under script) if they linger; at once when the command had not started.
   */
  async killExec(child: ChildProcess, pidFile: string): Promise<void> {
    const pid = await readPid(pidFile);
    if (pid) await killSession(pid);
    const last = setTimeout(() => void killWithChildren(child), pid ? RUNC_LINGER_MS : 0);
    last.unref();
    child.once('exit', () => clearTimeout(last));
  }

  private run(args: string[]) {
    return runCommand(this.binary, [...this.globalArgs, ...args], { timeoutMs: this.timeoutMs });
  }
}

/** SIGKILLs `child` and its direct children (unreaped while `child` lives, so their pids are theirs). */
async function killWithChildren(child: ChildProcess): Promise<void> {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const children = await readFile(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8').catch(() => '');
  for (const pid of children.split(' ').map(Number).filter((p) => Number.isInteger(p) && p > 1)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Already gone: what we wanted.
    }
  }
  child.kill('SIGKILL');
}

const shellQuote = (word: string): string => `'${word.replace(/'/g, `'\\''`)}'`;

function isMissing(e: unknown): boolean {
  return e instanceof CommandFailedError && /does not exist|not found/i.test(e.detail);
}

/**
 * runc's logrus lines as their messages alone — `time=… level=error msg="…"`, or on a terminal
 * (exec -t) the coloured `ERRO[0000] …` — and other lines as they are.
 */
export function runcMessages(text: string): string {
  return text
    .replace(ANSI_COLOUR, '')
    .split(/\r?\n/)
    .map((line) => (/^time="[^"]*" level=\w+ msg="/.test(line) ? toolMessage(line) : line.replace(/^[A-Z]{4}\[\d+\] (.*?)\s*$/, '$1')))
    .join('\n');
}

/** Where a colour starts: logrus colours its lines when runc writes to a terminal. */
const ANSI_COLOUR = /\x1b\[[0-9;]*m/g;

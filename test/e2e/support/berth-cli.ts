import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { resolve } from 'node:path';

export const REPO = resolve(__dirname, '../../..');
/** The built CLI: e2e tests run what users run (`npx tsc -b tsconfig.build.json` first). */
export const BERTH_BIN = resolve(REPO, 'apps/cli/dist/main.js');

export interface RunResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs `berth ARGS` to completion with exactly the given environment (plus PATH). With
 * `timeoutMs`, a command still running then gets SIGKILL (code null, a note on stderr).
 */
export async function runBerth(args: readonly string[], opts: { env: Record<string, string>; stdin?: string; timeoutMs?: number }): Promise<RunResult> {
  const child = spawn(process.execPath, [BERTH_BIN, ...args], {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...opts.env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const out = collect(child);
  child.stdin.end(opts.stdin ?? '');
  let timedOut = false;
  const timer =
    opts.timeoutMs === undefined
      ? undefined
      : setTimeout(() => {
          timedOut = true;
          child.kill('SIGKILL');
        }, opts.timeoutMs);
  const [code] = (await once(child, 'close')) as [number | null];
  clearTimeout(timer);
  const note = timedOut ? `\n(killed by the test after ${opts.timeoutMs} ms)` : '';
  return { code, stdout: out.stdout(), stderr: out.stderr() + note };
}

/** Starts `berth ARGS` with exactly the given environment (plus PATH), for commands that follow. */
export function spawnBerth(args: readonly string[], opts: { env: Record<string, string> }): ChildProcess {
  return spawn(process.execPath, [BERTH_BIN, ...args], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Accumulates a child's stdout and stderr as text. */
export function collect(child: ChildProcess): { stdout(): string; stderr(): string } {
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  return { stdout: () => stdout, stderr: () => stderr };
}

/** A TCP port nothing listens on right now (the kernel's pick, released again). */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  server.close();
  await once(server, 'close');
  if (typeof address !== 'object' || address === null) throw new Error('no port');
  return address.port;
}

/** Polls `check` until it returns a value (not undefined) or the deadline passes. */
export async function eventually<T>(what: string, check: () => Promise<T | undefined>, deadlineMs = 60_000): Promise<T> {
  const until = Date.now() + deadlineMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > until) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Direct children of a process, from /proc (pid and command name). */
export function childProcesses(parent: number): { pid: number; comm: string }[] {
  const children: { pid: number; comm: string }[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // comm is in parentheses and may contain spaces; the fields after it are space-separated.
      const close = stat.lastIndexOf(')');
      const comm = stat.slice(stat.indexOf('(') + 1, close);
      const ppid = Number(stat.slice(close + 2).split(' ')[1]);
      if (ppid === parent) children.push({ pid: Number(entry), comm });
    } catch {
      // the process ended while we looked
    }
  }
  return children;
}

/** True while a process with this pid exists and is not a zombie. */
export function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** Sends SIGKILL to a pid we started, ignoring "already gone". */
export function killIfAlive(pid: number | undefined): void {
  if (pid === undefined || !isAlive(pid)) return;
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // gone in between
  }
}

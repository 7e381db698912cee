import { spawn } from 'node:child_process';
import type { Readable } from 'node:stream';
import { toolMessage } from '../command';
import { CommandFailedError } from '../errors';

/** Everything conmon needs to create one container and watch it for its whole life. */
export interface ConmonOptions {
  readonly conmon: string;
  /** Absolute path of the OCI runtime binary. */
  readonly runtime: string;
  /** Global runtime arguments, e.g. `--root=…`, passed before conmon's `create`. */
  readonly runtimeArgs: readonly string[];
  readonly id: string;
  readonly bundle: string;
  /** Where conmon writes the container's pid. */
  readonly pidFile: string;
  /** Where conmon writes its own pid. */
  readonly conmonPidFile: string;
  /** CRI-format log file of the container's stdout/stderr. */
  readonly logPath: string;
  /** conmon writes `<exitDir>/<id>` with the exit code when the container exits. */
  readonly exitDir: string;
  readonly socketDir: string;
  /** conmon starts the log file afresh when it would grow beyond this. */
  readonly logSizeMax: number;
}

/** conmon's command line (Debian's conmon 2.1, API version 1). Pure. */
export function conmonArgs(o: ConmonOptions): string[] {
  return [
    '--api-version', '1',
    '-c', o.id,
    '-u', o.id,
    '-n', o.id,
    '-r', o.runtime,
    '-b', o.bundle,
    '-p', o.pidFile,
    '-P', o.conmonPidFile,
    '-l', `k8s-file:${o.logPath}`,
    '--log-size-max', String(o.logSizeMax),
    '--exit-dir', o.exitDir,
    '--socket-dir-path', o.socketDir,
    ...o.runtimeArgs.flatMap((a) => ['--runtime-arg', a]),
  ];
}

// conmon's children get a fixed environment: the agent's own environment is not theirs.
const CONMON_ENV = { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', _OCI_SYNCPIPE: '3' };

/**
 * Starts conmon in its own session (it double-forks and outlives the agent), which runs
 * `runc create`; resolves with the container's pid once the container exists. conmon reports
 * through the sync pipe (fd 3): `{"data": pid}` on success, a negative value and runc's message
 * on failure. The agent keeps no pipe: the sync pipe is closed once answered.
 */
export function launchConmon(o: ConmonOptions, timeoutMs: number): Promise<number> {
  const child = spawn(o.conmon, conmonArgs(o), {
    cwd: o.bundle,
    detached: true,
    env: CONMON_ENV,
    stdio: ['ignore', 'ignore', 'ignore', 'pipe'],
  });
  child.unref();
  const sync = child.stdio[3] as Readable;
  return new Promise<number>((resolve, reject) => {
    let text = '';
    const finish = (err: Error | undefined, pid?: number) => {
      clearTimeout(timer);
      sync.removeAllListeners();
      sync.destroy();
      if (err) reject(err);
      else resolve(pid!);
    };
    const timer = setTimeout(() => finish(new CommandFailedError('conmon', `no answer within ${timeoutMs} ms`)), timeoutMs);
    child.once('error', (e) => finish(new CommandFailedError('conmon', e.message)));
    sync.on('data', (chunk: Buffer) => {
      text += chunk.toString('utf8');
      const nl = text.indexOf('\n');
      if (nl >= 0) finish(...parseSyncMessage(text.slice(0, nl)));
    });
    sync.on('end', () => finish(...parseSyncMessage(text)));
  });
}

/** Interprets one sync-pipe message of conmon. Pure. */
export function parseSyncMessage(line: string): [Error | undefined, number?] {
  let msg: { data?: number; pid?: number; message?: string };
  try {
    msg = JSON.parse(line) as typeof msg;
  } catch {
    return [new CommandFailedError('conmon', `exited without creating the container${line ? `: ${line.trim()}` : ''}`)];
  }
  const pid = msg.data ?? msg.pid ?? -1;
  if (pid > 0) return [undefined, pid];
  return [new CommandFailedError('runc create', toolMessage(msg.message ?? 'failed without a message'))];
}

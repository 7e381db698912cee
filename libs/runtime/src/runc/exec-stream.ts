import type { ChildProcess } from 'node:child_process';
import { readFile, readlink, rm } from 'node:fs/promises';
import { constants } from 'node:os';
import { PassThrough, pipeline, Readable, Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { boundedOutput, runCommand } from '../command';
import type { ExecProcess, ExecStreamOptions, TerminalSize } from '../driver';
import { RuntimeOperationError } from '../errors';
import { runcMessages, type RuncCli } from './runc-cli';
import { killSession, readPid, waitFor } from './task-process';

export interface RuncExecStreamOptions extends ExecStreamOptions {
  /** Where runc writes the command's host pid; removed once the command is gone. */
  readonly pidFile: string;
}

const DEFAULT_SIZE: TerminalSize = { rows: 24, cols: 80 };
/** How much of runc's output is kept to explain a command it could not start. */
const FAILURE_OUTPUT_LIMIT = 4096;

/**
 * Starts `argv` in container `id` with `runc exec` and resolves once it runs — runc wrote its pid
 * file — or once runc gave up (then the ExecProcess ends with 126/127 and one line saying why).
 * With a tty, the command's terminal has its size when this resolves.
 */
export async function runcExecStream(runc: RuncCli, id: string, argv: readonly string[], o: RuncExecStreamOptions): Promise<ExecProcess> {
  const size = o.tty ? checkedSize(id, o.size ?? DEFAULT_SIZE) : undefined;
  // Only runc writes it: a stale one would be taken for the command's.
  await rm(o.pidFile, { force: true });
  const child = runc.spawnExec(id, argv, { pidFile: o.pidFile, terminal: size });
  const stdout = relay(child.stdout!);
  const stderr = relay(child.stderr!);
  let over = false;
  const gone = exitOf(child).finally(() => (over = true));
  // A spawn failure is looked at once the wait below ends; until then it must not count as unhandled.
  void gone.catch(() => undefined);
  // Until runc says whether the command runs, its output may be runc's own complaint: nobody reads it yet.
  const pid = await waitFor(() => readPid(o.pidFile), runc.timeoutMs, async () => over);
  if (pid === undefined && !over) {
    await runc.killExec(child, o.pidFile);
    await gone.catch(() => undefined);
    await rm(o.pidFile, { force: true });
    throw new RuntimeOperationError(id, 'exec', `runc did not start the command within ${runc.timeoutMs} ms`);
  }
  if (pid === undefined) return notStarted(stdout, stderr, await gone.catch((e: NodeJS.ErrnoException) => spawnFailed(id, child, e)), o.tty);
  const p = new RuncExecProcess(runc, { id, child, stdout, stderr, gone, pid, pidFile: o.pidFile, tty: o.tty });
  // runc sizes the container's terminal only after the command started; this makes it so before
  // the caller types anything. Best effort: a command that already ended needs no size.
  if (size) await p.resize(size).catch(() => undefined);
  return p;
}

/**
 * What `berth exec` prints, and exits with, when runc could not start the command: Docker's
 * codes (127: no such command, 126: cannot run it) and runc's reason in one line. Pure.
 */
export function execFailure(runcOutput: string): { readonly exitCode: 126 | 127; readonly message: string } {
  const lines = runcMessages(runcOutput)
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  const last = lines.findLast((l) => l.includes('exec failed')) ?? lines.at(-1) ?? 'runc could not start the command';
  // runc 1.1: `exec failed: unable to start container process: exec: "x": executable file not found in $PATH`
  const cause = last.replace(/^.*unable to start container process: /, '').replace(/^(exec failed|exec): /, '');
  return { exitCode: /executable file not found|no such file/i.test(cause) ? 127 : 126, message: `berth exec: ${cause}` };
}

interface StartedExec {
  readonly id: string;
  /** runc, or script with runc as its child (tty). */
  readonly child: ChildProcess;
  /** Relays of the child's stdout and stderr. */
  readonly stdout: Readable;
  readonly stderr: Readable;
  /** Settles once `child` exited, with its exit code. */
  readonly gone: Promise<number>;
  /** The command's host pid, also the id of the session runc started it in. */
  readonly pid: number;
  readonly pidFile: string;
  readonly tty: boolean;
}

/** A command running under `runc exec`: its stdio are (relays of) the child's own pipes, so back-pressure reaches it. */
class RuncExecProcess implements ExecProcess {
  readonly stdin: Writable;
  readonly stdout: Readable;
  readonly stderr: Readable;
  readonly exited: Promise<number>;
  private ended = false;
  private readonly cleaned: Promise<number>;
  private killing: Promise<void> | undefined;
  private readonly resizing = new Set<Promise<void>>();

  constructor(
    private readonly runc: RuncCli,
    private readonly o: StartedExec,
  ) {
    this.stdin = o.child.stdin!;
    // A write after the command ended fails with EPIPE; `exited` says how it ended.
    this.stdin.on('error', () => undefined);
    this.stdout = o.stdout;
    // With a tty everything comes through the terminal; script's own stderr is dropped (empty when all goes well).
    this.stderr = o.tty ? emptyStream() : o.stderr;
    if (o.tty) o.stderr.resume();
    this.cleaned = this.cleanUp(o.gone);
    const outputs = o.tty ? [this.stdout] : [this.stdout, this.stderr];
    this.exited = this.cleaned.then(async (code) => {
      await Promise.all(outputs.map((s) => finished(s).catch(() => undefined)));
      return code;
    });
  }

  async resize(size: TerminalSize): Promise<void> {
    if (!this.o.tty || this.ended) return;
    const applying = this.applySize(checkedSize(this.o.id, size));
    this.resizing.add(applying);
    try {
      await applying;
    } catch (e) {
      if (!this.ended) throw e;
    } finally {
      this.resizing.delete(applying);
    }
  }

  kill(): Promise<void> {
    this.killing ??= this.stop();
    return this.killing;
  }

  private async stop(): Promise<void> {
    if (!this.ended) await this.runc.killExec(this.o.child, this.o.pidFile);
    await this.cleaned;
    // Output nobody asked for is dropped, so `exited` settles without a reader.
    for (const s of [this.stdout, this.stderr]) if (s.readableFlowing === null) s.resume();
  }

  /** Once runc (and script) exited: what the command started is gone, so is its pid file. */
  private async cleanUp(gone: Promise<number>): Promise<number> {
    const code = await gone.catch(() => 255);
    this.ended = true;
    // A command killed while it was starting more processes may have left some behind.
    if (this.killing) await killSession(this.o.pid);
    await Promise.allSettled(this.resizing);
    await rm(this.o.pidFile, { force: true });
    return code;
  }

  /**
   * Sets both terminals: the host one runc relays from (runc copies its size on the SIGWINCH this
   * sends it, so the two stay equal) and the command's own, so the command has the size once this
   * resolves rather than once runc gets to it.
   */
  private async applySize(size: TerminalSize): Promise<void> {
    for (const terminal of [await this.hostTerminal(), await this.commandTerminal()]) {
      if (!terminal) continue;
      try {
        await runCommand('stty', ['-F', terminal, 'rows', String(size.rows), 'cols', String(size.cols)], { timeoutMs: 5_000 });
      } catch (e) {
        // The process ended meanwhile (the SIGWINCH itself may end it): nothing left to resize.
        if (await readlink(terminal).then(() => true, () => false)) throw e;
      }
    }
  }

  /** runc's stdin — the terminal script made — when runc is still script's child; else undefined. */
  private async hostTerminal(): Promise<string | undefined> {
    const scriptPid = this.o.child.pid;
    const children = await readFile(`/proc/${scriptPid}/task/${scriptPid}/children`, 'utf8').catch(() => '');
    for (const pid of children.split(' ').filter(Boolean)) {
      // Ours: its command line names our pid file (the shell before it exec'd runc does not, as an argument).
      const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
      if (cmdline.split('\0').includes(this.o.pidFile)) return ptyOf(Number(pid));
    }
    return undefined;
  }

  /** The command's stdin while it still leads the session runc started it in, and it is a terminal. */
  private async commandTerminal(): Promise<string | undefined> {
    const { pid } = this.o;
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
    const session = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[3]);
    return session === pid ? ptyOf(pid) : undefined;
  }
}

/** `/proc/<pid>/fd/0` when it is a pseudo-terminal: opening that path reaches the very same one. */
async function ptyOf(pid: number): Promise<string | undefined> {
  const target = await readlink(`/proc/${pid}/fd/0`).catch(() => '');
  return target.startsWith('/dev/pts/') ? `/proc/${pid}/fd/0` : undefined;
}

/** An exec runc could not start: no process, its explanation as the only output. */
async function notStarted(runcStdout: Readable, runcStderr: Readable, runcCode: number, tty: boolean): Promise<ExecProcess> {
  const output = await boundedOutput([runcStdout, runcStderr], FAILURE_OUTPUT_LIMIT).text(100);
  const { exitCode, message } = execFailure(output || `runc exited with ${runcCode}`);
  // A terminal's lines end in CR LF: the client's own terminal is in raw mode.
  const said = Readable.from([Buffer.from(`${message}${tty ? '\r\n' : '\n'}`)], { objectMode: false });
  return {
    stdin: new Writable({ write: (_chunk, _encoding, done) => done() }),
    stdout: tty ? said : emptyStream(),
    stderr: tty ? emptyStream() : said,
    exited: finished(said).then(
      () => exitCode,
      () => exitCode,
    ),
    resize: async () => undefined,
    // Nothing runs; as after a kill of a real one, an unread explanation is dropped so `exited` settles.
    kill: async () => void (said.readableFlowing === null && said.resume()),
  };
}

/**
 * A child's pipe behind a small relay (pipeline pauses the pipe while the relay is full, so
 * back-pressure still reaches the command). Needed because Node drains a child's pipes the moment
 * it exits: what a short command wrote would be gone before its reader attached.
 */
function relay(pipe: Readable): Readable {
  const out = new PassThrough();
  pipeline(pipe, out, () => undefined);
  return out;
}

/** Ends as soon as it is read; `exited` does not wait for that. */
function emptyStream(): Readable {
  return Readable.from([], { objectMode: false });
}

function exitOf(child: ChildProcess): Promise<number> {
  return new Promise((resolve, reject) => {
    child.once('exit', (code, signal) => resolve(code ?? 128 + (signal ? constants.signals[signal] : 0)));
    child.on('error', reject);
  });
}

function spawnFailed(id: string, child: ChildProcess, e: NodeJS.ErrnoException): never {
  throw new RuntimeOperationError(id, 'exec', e.code === 'ENOENT' ? `${child.spawnfile} is not installed` : e.message);
}

/** A terminal size the kernel takes (winsize fields are 16 bits); it also ends up in a shell line. */
function checkedSize(id: string, size: TerminalSize): TerminalSize {
  const ok = (n: number): boolean => Number.isInteger(n) && n >= 1 && n <= 65_535;
  if (!ok(size.rows) || !ok(size.cols)) {
    throw new RuntimeOperationError(id, 'exec', `a terminal size is whole rows and columns from 1 to 65535 (got ${size.rows} × ${size.cols})`);
  }
  return { rows: size.rows, cols: size.cols };
}

import { randomBytes } from 'node:crypto';
import { constants, existsSync } from 'node:fs';
import { lstat, mkdir, readFile, rm } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { boundedOutput } from '../command';
import { EXEC_OUTPUT_LIMIT, type ExecOptions, type ExecProcess, type ExecResult, type TerminalSize } from '../driver';
import { RuntimeOperationError } from '../errors';
import { DirectoryDoorbell } from '../runc/task-process';
import { claimSlot, markSlotStale, releaseSlot } from './exec-claims';
import { PortOutput } from './exec-output';
import { encodeExecSpec, EXEC_STREAMS, parseExecEnd, type ExecEnd, type ExecStream } from './guest-protocol';
import { forTask } from './guest-spec';
import { telnetEncode, TtyOutput } from './telnet';
import { sendControl } from './vm-control';
import type { VmPaths } from './vm-paths';
import { qemuPid } from './vm-state';

/** How long the guest may take to have a command's ports open and the command started. */
const START_TIMEOUT_MS = 30_000;
/** How long a killed command may take to be reported gone; after that the slot is left for the next user to clean. */
const KILL_TIMEOUT_MS = 15_000;
/** Longest a waiter goes without looking (file events usually wake it first). */
const LOOK_MS = 1_000;
const DEFAULT_SIZE: TerminalSize = { rows: 24, cols: 80 };

/** When a wait gives up, and what it then says. */
interface Deadline {
  readonly at: number;
  readonly what: string;
}
const NO_DEADLINE: Deadline = { at: Infinity, what: '' };
/** What ends a terminal's input: its EOF character, Ctrl-D. */
const VEOF = Buffer.from([4]);

/** A running VM to run commands in. */
export interface VmExecTarget {
  readonly taskId: string;
  readonly paths: VmPaths;
}

/**
 * Starts `argv` inside the guest (see guest-exec.ts) and resolves once it runs, or once the guest
 * said it could not run it (the process then ends with its code). Throws when the VM has no exec
 * ports, when EXEC_SLOTS commands already run in it, when the guest does not start it within
 * START_TIMEOUT_MS, and with the abort reason when `signal` aborts first (nothing is left then).
 */
export async function startVmExec(t: VmExecTarget, argv: readonly string[], o: { readonly tty: boolean; readonly size?: TerminalSize; readonly signal?: AbortSignal }): Promise<ExecProcess> {
  let spec: string;
  try {
    spec = encodeExecSpec({ argv, tty: o.tty, size: o.size ?? DEFAULT_SIZE });
  } catch (e) {
    throw forTask(t.taskId, e);
  }
  if (!t.paths.execSlots.every((s) => existsSync(s.sockets.in))) {
    throw new RuntimeOperationError(t.taskId, 'exec', 'this VM was started without exec ports (by an older berth); restart the task to run commands in it');
  }
  await mkdir(t.paths.execShare, { recursive: true }); // before GuestExec watches it
  const slot = await claimSlot(t);
  const exec = new GuestExec(t, slot, randomBytes(6).toString('hex'), o.tty);
  await exec.start(spec, o.signal);
  return exec;
}

/**
 * `exec` for health checks: startVmExec with no stdin and no tty, its output bounded to
 * EXEC_OUTPUT_LIMIT, killed (with all it started) when `o.timeoutMs` has passed since the command
 * started, or when `o.signal` aborts. The guest's part of starting it (under TCG ~0.1 s, more in
 * a fresh or busy guest) does not count: it is bounded by START_TIMEOUT_MS.
 */
export async function runVmExec(t: VmExecTarget, argv: readonly string[], o: ExecOptions): Promise<ExecResult> {
  const proc = await startVmExec(t, argv, { tty: false, signal: o.signal });
  proc.stdin.end();
  const output = boundedOutput([proc.stdout, proc.stderr], EXEC_OUTPUT_LIMIT);
  let why: 'deadline' | 'abort' | undefined;
  const end = (reason: 'deadline' | 'abort'): void => {
    why ??= reason;
    void proc.kill();
  };
  const timer = setTimeout(() => end('deadline'), o.timeoutMs);
  const onAbort = (): void => end('abort');
  if (o.signal?.aborted) onAbort();
  else o.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const code = await proc.exited;
    const text = await output.text(100);
    if (why === 'abort') throw o.signal?.reason ?? new Error('aborted');
    if (why === 'deadline') return { timedOut: true, output: text };
    return { exitCode: code, timedOut: false, output: text };
  } finally {
    clearTimeout(timer);
    o.signal?.removeEventListener('abort', onAbort);
  }
}

/** One command in one exec slot, from the control line that starts it to the slot's release. */
class GuestExec implements ExecProcess {
  readonly stdin: Writable;
  readonly stdout: PortOutput;
  readonly stderr: PortOutput;
  exited!: Promise<number>;
  private readonly doorbell: DirectoryDoorbell;
  private readonly sockets: Partial<Record<ExecStream, Socket>> = {};
  private readonly tty: TtyOutput | undefined;
  private ttyCode: number | undefined;
  private killRequested: number | undefined;
  private killing: Promise<void> | undefined;
  private ended = false;
  /** Wakes until() on events besides file changes (the command's first byte, output awaited, the tty's exit marker, a kill). */
  private nudge: (() => void) | undefined;
  /** When until() last made sure QEMU runs. */
  private lookedAtQemu = 0;

  constructor(
    private readonly t: VmExecTarget,
    private readonly slot: number,
    private readonly id: string,
    tty: boolean,
  ) {
    this.doorbell = new DirectoryDoorbell(t.paths.execShare);
    this.tty = tty ? new TtyOutput(id) : undefined;
    this.stdout = new PortOutput(() => this.nudge?.());
    this.stderr = new PortOutput(() => this.nudge?.());
    if (tty) this.stderr.finish();
    this.stdin = new Writable({
      write: (chunk: Buffer, _enc, done) => this.writeStdin(this.tty ? telnetEncode(chunk) : chunk, done),
      // A terminal's input ends by its EOF character; the port's by closing the host's end.
      final: (done) => (this.tty ? this.writeStdin(VEOF, done) : (this.sockets.in?.end(), done())),
    });
  }

  /** The guest's answers, in the task share. The guest can put anything there: they are read without following symlinks, and never written. */
  private file(ext: 'ready' | 'exit' | 'tmp'): string {
    return join(this.t.paths.execShare, `${this.id}.${ext}`);
  }

  /** Asks the guest to run the spec, connects to the slot's ports once the guest has them open, and waits for the command's first sign. */
  async start(spec: string, signal: AbortSignal | undefined): Promise<void> {
    let asked = false;
    try {
      await sendControl(this.t.paths.control, `exec ${this.slot} ${this.id} ${Buffer.from(spec).toString('base64')}`);
      asked = true;
      const deadline = { at: Date.now() + START_TIMEOUT_MS, what: `the guest did not start the command within ${START_TIMEOUT_MS} ms` };
      const ready = async (): Promise<boolean> => (await lstat(this.file('ready')).catch(() => undefined))?.isFile() ?? false;
      const end = await this.until(async () => (await this.end()) ?? ((await ready()) ? 'ready' : undefined), deadline, signal);
      if (end !== 'ready' && end.kind === 'error') throw new RuntimeOperationError(this.t.taskId, 'exec', end.message);
      if (end === 'ready') await this.connect(deadline, signal);
    } catch (e) {
      await this.release(asked && (await this.end()) === undefined);
      throw e instanceof RuntimeOperationError || signal?.aborted ? e : new RuntimeOperationError(this.t.taskId, 'exec', e instanceof Error ? e.message : String(e));
    }
    this.exited = this.finish();
    this.exited.catch(() => undefined); // the caller awaits it; a rejection nobody awaited must not end the agent
  }

  resize(size: TerminalSize): Promise<void> {
    if (!this.tty || this.ended) return Promise.resolve();
    const rows = Math.min(Math.max(1, Math.floor(size.rows)), 0xffff);
    const cols = Math.min(Math.max(1, Math.floor(size.cols)), 0xffff);
    return sendControl(this.t.paths.control, `resize ${this.slot} ${this.id} ${rows} ${cols}`).catch(() => undefined);
  }

  kill(): Promise<void> {
    this.killing ??= this.askKill();
    return this.killing.then(() => this.exited).then(
      () => undefined,
      () => undefined,
    );
  }

  private async askKill(): Promise<void> {
    if (this.ended) return;
    this.killRequested = Date.now();
    await sendControl(this.t.paths.control, `kill ${this.slot} ${this.id}`).catch(() => undefined);
    this.nudge?.();
  }

  /** Connects the three sockets (the guest has the ports open), then waits for the command's byte on `in`. */
  private async connect(deadline: Deadline, signal: AbortSignal | undefined): Promise<void> {
    for (const s of EXEC_STREAMS) this.sockets[s] = await connectSocket(this.t.paths.execSlots[this.slot]!.sockets[s]);
    const { in: input, out, err } = this.sockets as Record<ExecStream, Socket>;
    let started = false;
    // After its first byte: what the command writes to its stdin, dropped.
    input.on('data', () => {
      started = true;
      this.nudge?.();
    });
    input.on('error', () => undefined);
    this.stdout.attach(out, this.tty ? (b) => this.fromTerminal(b) : undefined);
    if (!this.tty) this.stderr.attach(err);
    else err.resume();
    // A command that could not start ends without its byte; the exit file says so.
    await this.until(async () => (started || (await this.end()) ? true : undefined), deadline, signal);
  }

  private fromTerminal(chunk: Buffer): Buffer {
    const { data, code } = this.tty!.push(chunk);
    if (code !== undefined && this.ttyCode === undefined) {
      this.ttyCode = code;
      this.nudge?.();
    }
    return data;
  }

  /**
   * The exit code, once the command ended, its output was read to the end and its slot is free.
   * A terminal ends with the guest's marker, after which the slot is killed; otherwise the guest's
   * exit file gives the code and how many bytes each stream carried.
   */
  private async finish(): Promise<number> {
    let clean = false;
    const killed = `the guest did not report the killed command gone within ${KILL_TIMEOUT_MS} ms`;
    try {
      const code = await this.until(async () => {
        if (this.ttyCode !== undefined) return { kind: 'tty' as const, code: this.ttyCode };
        const end = await this.end();
        if (end) return end;
        if (this.killRequested !== undefined && Date.now() - this.killRequested > KILL_TIMEOUT_MS) throw new RuntimeOperationError(this.t.taskId, 'exec', killed);
        return undefined;
      }, NO_DEADLINE);
      if (code.kind === 'error') throw new RuntimeOperationError(this.t.taskId, 'exec', code.message);
      if (code.kind === 'tty') {
        this.stdout.finish();
        // The session ends with its command: what else ran on the terminal goes with it.
        await this.askKill();
        clean = (await this.until(async () => this.end(), { at: Date.now() + KILL_TIMEOUT_MS, what: killed }).catch(() => undefined)) !== undefined;
        return code.code;
      }
      if (this.tty) {
        this.stdout.finish(this.tty.flush());
        if (this.killRequested === undefined) throw new RuntimeOperationError(this.t.taskId, 'exec', `the terminal closed before the command ended (telnetd exited ${code.code})`);
      } else {
        this.stdout.expect(code.stdoutBytes);
        this.stderr.expect(code.stderrBytes);
        // Output still on its way; a reader that stopped reading holds this up, as it holds up the command.
        await this.until(async () => (this.stdout.complete && this.stderr.complete ? true : undefined), NO_DEADLINE);
      }
      clean = true;
      return code.code;
    } finally {
      this.stdout.finish();
      this.stderr.finish();
      await this.release(!clean);
    }
  }

  /** The guest's exit file, once complete. */
  private async end(): Promise<ExecEnd | undefined> {
    return parseExecEnd(await readFile(this.file('exit'), { encoding: 'utf8', flag: constants.O_RDONLY | constants.O_NOFOLLOW }).catch(() => ''));
  }

  /**
   * Asks `look` again on each change in the exec share, each nudge (output, the terminal's
   * marker, a kill) and every LOOK_MS until it answers; throws when the VM is gone, when the
   * deadline passes (with its `what`), or with the abort reason.
   */
  private async until<T>(look: () => Promise<T | undefined>, deadline: Deadline, signal?: AbortSignal): Promise<T> {
    for (;;) {
      // A nudge aborts the doorbell's wait: racing it instead would leave a wait behind that can swallow the next ring.
      const nudged = new AbortController();
      this.nudge = () => nudged.abort();
      const found = await look();
      if (found !== undefined) return found;
      if (Date.now() - this.lookedAtQemu >= LOOK_MS) {
        if ((await qemuPid(this.t.paths.pidFile)) === undefined) throw new RuntimeOperationError(this.t.taskId, 'exec', 'the VM stopped while the command ran');
        this.lookedAtQemu = Date.now();
      }
      if (Date.now() >= deadline.at) throw new RuntimeOperationError(this.t.taskId, 'exec', deadline.what);
      try {
        await this.doorbell.next(Math.min(LOOK_MS, deadline.at - Date.now()), signal ? AbortSignal.any([signal, nudged.signal]) : nudged.signal);
      } catch (e) {
        if (signal?.aborted || !nudged.signal.aborted) throw e;
      }
    }
  }

  private writeStdin(data: Buffer, done: (e?: Error | null) => void): void {
    const input = this.sockets.in;
    // After the command ended (or closed its stdin) what is still written is dropped.
    if (!input || this.ended || input.destroyed) return done();
    input.write(data, () => done());
  }

  /**
   * Ends the host's part: sockets, files, the slot's claim. `dirty`: the guest may still run
   * something of this exec (it was asked to start and never reported the end), so the claim
   * stays, marked stale: whoever takes the slot next has the guest clean it first.
   */
  private async release(dirty: boolean): Promise<void> {
    if (dirty && (await qemuPid(this.t.paths.pidFile)) !== undefined) await sendControl(this.t.paths.control, `kill ${this.slot} ${this.id}`).catch(() => undefined);
    this.ended = true;
    for (const s of Object.values(this.sockets)) s.destroy();
    this.doorbell.close();
    // The task's directory may be going away with it (destroy): nothing to keep then.
    await Promise.all((['ready', 'exit', 'tmp'] as const).map((f) => rm(this.file(f), { force: true }).catch(() => undefined)));
    const claim = this.t.paths.execSlots[this.slot]!.claim;
    await (dirty ? markSlotStale(claim) : releaseSlot(claim)).catch(() => undefined);
  }
}

function connectSocket(path: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ path, allowHalfOpen: true });
    s.once('connect', () => {
      s.off('error', reject);
      resolve(s);
    });
    s.once('error', reject);
  });
}

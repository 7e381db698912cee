import type { Readable } from 'node:stream';
import type { ExecFrame, ExecStart } from '@berth/proto';
import type { ExecProcess, ExecStreamOptions } from '@berth/runtime';

/** Starts a command in a task on this node; throws a DomainError when the task is unknown or not running. */
export type ExecStarter = (taskId: string, command: readonly string[], o: ExecStreamOptions) => Promise<ExecProcess>;

/** stdin bytes the control plane may send ahead of the command reading them. */
export const STDIN_WINDOW = 64 * 1024;
/** Largest stdout/stderr payload of one frame. */
const MAX_CHUNK = 32 * 1024;

type Frame = NonNullable<ExecFrame['frame']>;

/**
 * The agent's end of the commands `berth exec` runs on this node, for one session: frames from
 * the control plane start, feed, resize and cancel them; their output goes back only as far as
 * the control plane granted credit, so a slow client stops the command (its pipe fills) instead
 * of growing any buffer. When the session ends every command still running is killed: a lost
 * connection ends the command, as Ctrl-C does.
 */
export class ExecRelay {
  private readonly execs = new Map<string, AgentExec>();

  constructor(
    private readonly start: ExecStarter,
    private readonly send: (execId: string, frame: Frame) => void,
    private readonly log: (line: string) => void,
  ) {}

  receive(f: ExecFrame): void {
    const frame = f.frame;
    if (!frame) return;
    if (frame.$case === 'start') {
      if (this.execs.has(f.execId)) return;
      const exec = new AgentExec(f.execId, (fr) => this.send(f.execId, fr), () => this.execs.delete(f.execId), this.log);
      this.execs.set(f.execId, exec);
      void exec.run(this.start, frame.value);
      return;
    }
    this.execs.get(f.execId)?.receive(frame);
  }

  /** The session ended: kills every command it started. */
  closeAll(): void {
    for (const exec of this.execs.values()) exec.cancel();
  }

  get size(): number {
    return this.execs.size;
  }
}

class AgentExec {
  private proc: ExecProcess | undefined;
  private cancelled = false;
  /** Output bytes the control plane still accepts. */
  private credit = 0;
  /** Output read from the command but not yet sent for want of credit, in order. */
  private readonly held: { stream: 'stdout' | 'stderr'; data: Buffer }[] = [];
  private readonly outputs: Readable[] = [];
  /** Resolved when the held output has been sent. */
  private flushed: (() => void) | undefined;

  constructor(
    private readonly id: string,
    private readonly send: (frame: Frame) => void,
    private readonly done: () => void,
    private readonly log: (line: string) => void,
  ) {}

  async run(start: ExecStarter, s: ExecStart): Promise<void> {
    this.credit = s.credit;
    try {
      const size = s.size && s.size.rows > 0 && s.size.cols > 0 ? { rows: s.size.rows, cols: s.size.cols } : undefined;
      const proc = await start(s.taskId, s.command, { tty: s.tty, ...(size ? { size } : {}) });
      this.proc = proc;
      if (this.cancelled) void proc.kill();
      proc.stdin.on('error', () => undefined); // the command closed its stdin: what is still sent is dropped
      this.pump(proc.stdout, 'stdout');
      this.pump(proc.stderr, 'stderr');
      this.send({ $case: 'credit', value: STDIN_WINDOW });
      const [code] = await Promise.all([proc.exited, ...this.outputs.map(ended)]);
      await this.allSent();
      this.send({ $case: 'exit', value: { exitCode: code, error: '' } });
    } catch (e) {
      const message = e instanceof Error ? e.message : String(e);
      if (this.proc) this.log(`exec ${this.id} in task ${s.taskId} failed: ${message}`);
      this.send({ $case: 'exit', value: { exitCode: -1, error: message } });
    } finally {
      this.done();
    }
  }

  receive(frame: Frame): void {
    const proc = this.proc;
    switch (frame.$case) {
      case 'stdin':
        if (!proc) return;
        // Credit goes back once the pipe took the bytes: the window is what may wait in between.
        proc.stdin.write(frame.value, () => this.send({ $case: 'credit', value: frame.value.length }));
        return;
      case 'stdinClosed':
        proc?.stdin.end();
        return;
      case 'resize':
        if (proc && frame.value.rows > 0 && frame.value.cols > 0) void proc.resize({ rows: frame.value.rows, cols: frame.value.cols }).catch(() => undefined);
        return;
      case 'credit':
        this.credit += frame.value;
        this.drain();
        return;
      case 'cancel':
        this.cancel();
        return;
    }
  }

  cancel(): void {
    this.cancelled = true;
    // Nothing more will be read: let the command's output end as the kill closes its pipes.
    this.credit = Number.MAX_SAFE_INTEGER;
    this.drain();
    void this.proc?.kill().catch(() => undefined);
  }

  private pump(stream: Readable, name: 'stdout' | 'stderr'): void {
    this.outputs.push(stream);
    stream.on('data', (data: Buffer) => {
      for (let at = 0; at < data.length; at += MAX_CHUNK) this.held.push({ stream: name, data: data.subarray(at, at + MAX_CHUNK) });
      this.drain();
    });
  }

  /** Sends held output as far as the credit goes; pauses the command's streams while it is spent. */
  private drain(): void {
    while (this.held.length > 0 && this.credit > 0) {
      const first = this.held[0]!;
      const part = first.data.subarray(0, this.credit);
      if (part.length === first.data.length) this.held.shift();
      else first.data = first.data.subarray(part.length);
      this.credit -= part.length;
      if (!this.cancelled) this.send({ $case: first.stream, value: part });
    }
    const blocked = this.held.length > 0;
    for (const s of this.outputs) {
      if (blocked) s.pause();
      else s.resume();
    }
    if (!blocked) {
      this.flushed?.();
      this.flushed = undefined;
    }
  }

  private allSent(): Promise<void> {
    if (this.held.length === 0) return Promise.resolve();
    return new Promise((resolve) => (this.flushed = resolve));
  }
}

function ended(stream: Readable): Promise<void> {
  if (stream.readableEnded || stream.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    stream.once('end', resolve);
    stream.once('close', resolve);
  });
}

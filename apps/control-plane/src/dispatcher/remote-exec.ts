import type { ExecFrame } from '@berth/proto';

type Frame = NonNullable<ExecFrame['frame']>;

/** How a relayed command ended: its exit code, or why it did not run or was cut off. */
export type ExecOutcome = { readonly exitCode: number } | { readonly error: string };

/** What the client side of a relayed command is told; set once by whoever bridges it. */
export interface ExecListener {
  output(stream: 'stdout' | 'stderr', data: Buffer): void;
  /** The agent accepts more stdin (after `writeStdin` returned false). */
  writable(): void;
  /** Last call: the command ended, or the session went away. */
  ended(outcome: ExecOutcome): void;
}

/** stdout/stderr bytes the agent may send ahead of the client reading them. */
export const OUTPUT_WINDOW = 256 * 1024;

/**
 * The control plane's end of one command run in a task over its node's session
 * (ExecFrame in docs/agent-protocol.md). stdin goes out only against the credit the agent
 * granted; output credit goes back only when the caller says the client took the bytes
 * (`consumed`), so what waits here is bounded by the two windows whatever either end does.
 */
export class RemoteExec {
  private listener: ExecListener | undefined;
  private stdinCredit = 0;
  private finished = false;

  constructor(
    readonly id: string,
    private readonly sendFrame: (frame: Frame) => void,
    private readonly onFinish: () => void,
  ) {}

  /** Starts listening; frames that arrived before (none can: the agent answers the start) are not replayed. */
  listen(listener: ExecListener): void {
    this.listener = listener;
  }

  /** False when the agent has granted no room for these bytes yet: wait for `writable`, then write the rest. */
  writeStdin(data: Buffer): boolean {
    if (this.finished) return true;
    if (data.length > this.stdinCredit) return false;
    this.stdinCredit -= data.length;
    this.sendFrame({ $case: 'stdin', value: data });
    return true;
  }

  /** Room the agent has granted for stdin, in bytes. */
  get stdinRoom(): number {
    return this.stdinCredit;
  }

  closeStdin(): void {
    if (!this.finished) this.sendFrame({ $case: 'stdinClosed', value: true });
  }

  resize(rows: number, cols: number): void {
    if (!this.finished) this.sendFrame({ $case: 'resize', value: { rows, cols } });
  }

  /** The client took `bytes` of output: the agent may send that many more. */
  consumed(bytes: number): void {
    if (!this.finished && bytes > 0) this.sendFrame({ $case: 'credit', value: bytes });
  }

  /** The client went away: the agent kills the command. */
  cancel(): void {
    if (this.finished) return;
    this.sendFrame({ $case: 'cancel', value: true });
    this.finish({ error: 'cancelled' });
  }

  /** A frame from the agent. */
  receive(frame: Frame): void {
    if (this.finished) return;
    switch (frame.$case) {
      case 'stdout':
      case 'stderr':
        this.listener?.output(frame.$case, frame.value);
        return;
      case 'credit':
        this.stdinCredit += frame.value;
        this.listener?.writable();
        return;
      case 'exit':
        this.finish(frame.value.error ? { error: frame.value.error } : { exitCode: frame.value.exitCode });
        return;
    }
  }

  /** Ends the command's relay (the session went away, or the agent said it ended). */
  finish(outcome: ExecOutcome): void {
    if (this.finished) return;
    this.finished = true;
    this.onFinish();
    this.listener?.ended(outcome);
  }
}

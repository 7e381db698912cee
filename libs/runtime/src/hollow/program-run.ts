import type { LogStream } from '../driver';
import type { HollowProgram } from './hollow-program';

/** Exit code of a hollow program killed by a stop after its grace period (SIGKILL). */
export const KILLED = 137;

/**
 * One run of a hollow program, a stand-in for a process: prints its lines on timers, then exits
 * or runs until terminated or killed. No I/O; one timer at a time while it prints.
 */
export class ProgramRun {
  private code: number | undefined;
  private timer: NodeJS.Timeout | undefined;
  private finish!: (code: number) => void;
  /** Resolves with the exit code once it ended. */
  readonly done = new Promise<number>((resolve) => (this.finish = resolve));

  constructor(
    private readonly program: HollowProgram,
    private readonly onLine: (stream: LogStream, text: string) => void,
    private readonly onExit: (code: number) => void = () => undefined,
  ) {}

  get exitCode(): number | undefined {
    return this.code;
  }

  start(): void {
    this.after(0, () => this.step(0));
  }

  /** A stop request (SIGTERM): ends it when its program says so; true when it ended. */
  terminate(): boolean {
    if (this.program.onTerm !== 'ignore') this.end(this.program.onTerm);
    return this.code !== undefined;
  }

  /** Ends it now with `code` (SIGKILL: 137); nothing when it already ended. */
  kill(code = KILLED): void {
    this.end(code);
  }

  /** Prints from line `first` on (the rest at once, or the next after `everyMs`), then exits if told to. */
  private step(first: number): void {
    const { print, everyMs, exit } = this.program;
    for (let i = first; i < print.length && this.code === undefined; i++) {
      const [stream, text] = print[i]!;
      this.onLine(stream, text);
      if (everyMs > 0 && i + 1 < print.length) return this.after(everyMs, () => this.step(i + 1));
    }
    if (exit !== undefined) this.end(exit);
  }

  private after(ms: number, f: () => void): void {
    this.timer = setTimeout(() => {
      this.timer = undefined;
      f();
    }, ms);
  }

  private end(code: number): void {
    if (this.code !== undefined) return;
    this.code = code;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.onExit(code);
    this.finish(code);
  }
}

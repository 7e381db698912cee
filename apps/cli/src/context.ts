import type { BerthClient } from './client/http-client';
import type { CliEnvironment } from './environment';

/**
 * What a command needs from the outside world, handed to every command by the program. Commands
 * print through `out` (data, stdout) and `err` (diagnostics, stderr) and do not exit the process:
 * they throw (mapped to an exit code once, in runCli) or set a non-error exit code. The one
 * exception is `server`/`up`, where a second SIGINT/SIGTERM exits at once.
 */
export interface CliContext {
  readonly env: CliEnvironment;
  /** The raw `--server` value given on the command line, if any (`berth agent` reads it as HOST:PORT). */
  serverFlag(): string | undefined;
  /**
   * A client for the server chosen by `--server`, `BERTH_SERVER`, the config file or the default,
   * with the config file's CA and token. Reads the config file (`--config`, `BERTH_CONFIG` or
   * ~/.berth/config) on the first call; throws when it is unsafe (group/others may read it) or broken.
   */
  client(): BerthClient;
  /** The client config file this command line uses: `--config`, else `BERTH_CONFIG`, else ~/.berth/config. */
  configFile(): string;
  /** Writes text plus a newline to stdout. */
  out(text: string): void;
  /** Writes text plus a newline to stderr. */
  err(text: string): void;
  /** Writes text to stderr as it is (no newline added): progress rewritten in place on a TTY. */
  errRaw(text: string): void;
  /** True when stderr is a terminal, so progress may be redrawn with `\r` and cursor moves. */
  readonly stderrIsTty: boolean;
  /**
   * A signal aborted by the first SIGINT/SIGTERM after the call (Ctrl-C ends `logs -f` cleanly).
   * Commands that do not call it keep the default: the signal kills the process.
   */
  interruption(): AbortSignal;
  readStdin(): Promise<string>;
  now(): Date;
  /** A non-error outcome that still exits non-zero (`diff --exit-code` with differences). */
  setExitCode(code: number): void;
  /** The process's own byte streams, for a command that relays them as they are (`exec`). */
  rawStdio(): RawStdio;
  /**
   * Resolves once stdout has taken what was written so far (at once unless its buffer is full):
   * a command printing a stream awaits it, so a slow reader of its output slows the stream down
   * instead of the CLI buffering it.
   */
  outDrained(): Promise<void>;
}

/** stdin, stdout and stderr as streams, with what a terminal adds when they are one. */
export interface RawStdio {
  readonly stdin: NodeJS.ReadableStream & { readonly isTTY?: boolean; setRawMode?(mode: boolean): unknown };
  readonly stdout: NodeJS.WritableStream & { readonly isTTY?: boolean; readonly rows?: number; readonly columns?: number };
  readonly stderr: NodeJS.WritableStream;
}

import { execFile } from 'node:child_process';
import type { Readable } from 'node:stream';
import { CommandFailedError } from './errors';

export interface CommandResult {
  readonly stdout: string;
  readonly stderr: string;
}

export interface CommandOptions {
  /** Hard deadline; the process is SIGKILLed when it passes. */
  readonly timeoutMs: number;
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
}

/**
 * Runs a host tool to completion with a deadline and returns its output. A non-zero exit, a
 * signal or a missed deadline becomes a CommandFailedError carrying the tool's stderr, so callers
 * can surface the tool's own explanation.
 */
export function runCommand(file: string, args: readonly string[], opts: CommandOptions): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    execFile(
      file,
      [...args],
      { timeout: opts.timeoutMs, killSignal: 'SIGKILL', maxBuffer: 32 * 1024 * 1024, env: opts.env, cwd: opts.cwd },
      (error, stdout, stderr) => {
        if (!error) {
          resolve({ stdout, stderr });
          return;
        }
        const name = `${file} ${args.slice(0, 3).join(' ')}`.trim();
        const err = error as NodeJS.ErrnoException & { killed?: boolean; code?: number | string };
        let detail: string;
        if (err.code === 'ENOENT') detail = `${file} is not installed`;
        else if (err.killed) detail = `did not finish within ${opts.timeoutMs} ms`;
        else detail = toolMessage(stderr) || stdout.trim() || err.message;
        reject(new CommandFailedError(name, detail));
      },
    );
  });
}

/**
 * The message of a Go tool's logrus line (`time=… level=fatal msg="…"`), as a user should read
 * it; text in any other form comes back trimmed.
 */
export function toolMessage(stderr: string): string {
  const m = /msg="((?:[^"\\]|\\.)*)"/.exec(stderr);
  return m ? m[1]!.replace(/\\"/g, '"') : stderr.trim();
}

/**
 * Collects what `streams` write, in arrival order, keeping at most `limit` bytes (the beginning).
 * `text(graceMs)` waits up to `graceMs` for every stream to end — a process's children may hold
 * its pipes open after it exited — then stops listening and returns the text, trimmed.
 */
export function boundedOutput(streams: readonly Readable[], limit: number): { text(graceMs: number): Promise<string> } {
  const chunks: Buffer[] = [];
  let size = 0;
  const onData = (chunk: Buffer): void => {
    if (size >= limit) return;
    chunks.push(chunk.subarray(0, limit - size));
    size += Math.min(chunk.length, limit - size);
  };
  const ended = Promise.all(streams.map((s) => new Promise<void>((resolve) => s.on('data', onData).once('close', resolve).once('error', () => resolve()))));
  return {
    async text(graceMs: number): Promise<string> {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([ended, new Promise((resolve) => (timer = setTimeout(resolve, graceMs)))]);
      clearTimeout(timer);
      for (const s of streams) s.off('data', onData).destroy();
      return Buffer.concat(chunks).toString('utf8').trim();
    },
  };
}

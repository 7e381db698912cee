import { execFile } from 'node:child_process';
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

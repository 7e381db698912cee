import { spawn } from 'node:child_process';
import { NetworkSetupError } from './errors';

export interface ToolRun {
  /** Exit code; null when the tool was killed (deadline) or died from a signal. */
  readonly exitCode: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface ToolOptions {
  readonly input?: string;
  /** The complete environment of the tool (nothing is inherited). */
  readonly env?: Readonly<Record<string, string>>;
  /** Hard deadline; the tool is SIGKILLed when it passes. */
  readonly timeoutMs?: number;
}

/**
 * A fixed PATH for the tools berth runs and for what they run in turn (CNI plugins call
 * iptables), so behaviour does not depend on the agent's environment.
 */
export const TOOL_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/**
 * Runs a tool to completion and reports its exit code and output — unlike a "must succeed"
 * runner, failures are data here: a CNI plugin explains its failure on stdout, and "no such
 * device" from `ip` means "already gone". Rejects only when the tool cannot be started.
 */
export function runTool(file: string, args: readonly string[], opts: ToolOptions = {}): Promise<ToolRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, [...args], {
      env: opts.env ?? { PATH: TOOL_PATH },
      stdio: ['pipe', 'pipe', 'pipe'],
      timeout: opts.timeoutMs ?? 60_000,
      killSignal: 'SIGKILL',
    });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => stdout.push(b));
    child.stderr.on('data', (b: Buffer) => stderr.push(b));
    child.on('error', reject);
    child.on('close', (code) => {
      resolve({ exitCode: code, stdout: Buffer.concat(stdout).toString(), stderr: Buffer.concat(stderr).toString() });
    });
    // A tool that exits without reading stdin makes the write fail with EPIPE; its exit code
    // and output already say what happened.
    child.stdin.on('error', () => undefined);
    child.stdin.end(opts.input ?? '');
  });
}

/** runTool for host tools (ip, iptables, unshare…): a tool that cannot be started is a NetworkSetupError. */
export async function runHostTool(file: string, args: readonly string[]): Promise<ToolRun> {
  try {
    return await runTool(file, args);
  } catch (e) {
    throw new NetworkSetupError(`cannot run ${file}: ${(e as Error).message} (is it installed?)`);
  }
}

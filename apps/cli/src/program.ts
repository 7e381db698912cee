import { Command, CommanderError, type CommandUnknownOpts } from '@commander-js/extra-typings';
import { BerthClient } from './client/http-client';
import { resolveConnection } from './client/server-address';
import { agentCommand } from './commands/agent';
import { applyCommand } from './commands/apply';
import { deleteCommand } from './commands/delete';
import { describeCommand } from './commands/describe';
import { diffCommand } from './commands/diff';
import { eventsCommand } from './commands/events';
import { getCommand } from './commands/get';
import { execCommand } from './commands/exec';
import { logsCommand } from './commands/logs';
import { nodeCommand } from './commands/node';
import { planCommand } from './commands/plan';
import { rolloutCommand } from './commands/rollout';
import { scaleCommand } from './commands/scale';
import { serverCommand } from './commands/server';
import { tokenCommand } from './commands/token';
import { topCommand } from './commands/top';
import { upCommand } from './commands/up';
import { whyCommand } from './commands/why';
import type { CliContext, RawStdio } from './context';
import { chooseConfigFile, type CliEnvironment } from './environment';
import { describeFailure } from './output/failure';

/** The process-facing parts a program needs; main passes the real ones, tests their own. */
export interface ProgramIo {
  out(text: string): void;
  err(text: string): void;
  readStdin(): Promise<string>;
  now(): Date;
  /** stderr without an added newline; defaults to `err` (fine where stderr is not a TTY). */
  errRaw?(text: string): void;
  /** Defaults to false: progress is printed line by line. */
  readonly stderrIsTty?: boolean;
  /** Aborted on SIGINT/SIGTERM (see CliContext.interruption); defaults to a signal never aborted. */
  interruption?(): AbortSignal;
  /** Defaults to the process's own stdin, stdout and stderr. */
  rawStdio?(): RawStdio;
  /** Defaults to "already drained" (output that is not a stream). */
  outDrained?(): Promise<void>;
}

export interface BerthProgram {
  readonly program: Command;
  /** Exit code set by a command that finished without an error (0 unless set). */
  exitCode(): number;
}

/**
 * Builds the `berth` command tree. Usage errors surface as CommanderError (commander has already
 * printed its message); help and version as CommanderError with exit code 0.
 */
export function createProgram(env: CliEnvironment, io: ProgramIo): BerthProgram {
  let exitCode = 0;
  let client: BerthClient | undefined;
  const program = new Command('berth')
    .description('berth: run containers and microVMs on a small cluster')
    .version(env.version, '-V, --version', 'print the berth version')
    .option('-s, --server <url>', 'control plane URL (default: $BERTH_SERVER, the config file\'s server, https://127.0.0.1:7070)')
    .option('--config <file>', 'client config file: server, ca and token, as berth server writes it (DATA-DIR/admin.yaml) (default: $BERTH_CONFIG, ~/.berth/config)')
    .addHelpText('after', '\nExit status: 0 success, 1 error, 2 invalid input (bad manifest or usage), 3 a valid request\nanswered "no" (a rollout paused or rolled back, a drain that cannot finish).');
  const ctx: CliContext = {
    env,
    serverFlag: () => program.opts().server,
    client: () => (client ??= new BerthClient(resolveConnection(program.opts(), env, io.err))),
    configFile: () => chooseConfigFile(program.opts().config, env).path,
    out: io.out,
    err: io.err,
    errRaw: io.errRaw ?? ((text) => io.err(text.replace(/\n$/, ''))),
    stderrIsTty: io.stderrIsTty ?? false,
    interruption: io.interruption ?? (() => new AbortController().signal),
    readStdin: io.readStdin,
    now: io.now,
    setExitCode: (code) => {
      exitCode = code;
    },
    rawStdio: io.rawStdio ?? (() => ({ stdin: process.stdin, stdout: process.stdout, stderr: process.stderr })),
    outDrained: io.outDrained ?? (() => Promise.resolve()),
  };
  const commands = [
    serverCommand,
    upCommand,
    agentCommand,
    applyCommand,
    diffCommand,
    getCommand,
    describeCommand,
    deleteCommand,
    scaleCommand,
    rolloutCommand,
    logsCommand,
    execCommand,
    eventsCommand,
    topCommand,
    nodeCommand,
    tokenCommand,
    planCommand,
    whyCommand,
  ];
  for (const make of commands) program.addCommand(make(ctx));
  configureTree(program, io);
  return { program, exitCode: () => exitCode };
}

/** addCommand does not pass settings down, so every command gets them here. */
function configureTree(command: CommandUnknownOpts, io: ProgramIo): void {
  command
    .exitOverride((e: CommanderError) => {
      throw e;
    })
    .configureOutput({
      writeOut: (s) => io.out(s.replace(/\n$/, '')),
      writeErr: (s) => io.err(s.replace(/\n$/, '')),
    })
    .showHelpAfterError('(run with --help for usage)');
  for (const sub of command.commands) configureTree(sub, io);
}

/**
 * Runs one command line (`argv` as in process.argv) and returns the exit code: errors are printed
 * on stderr here, once, and never escape.
 */
export async function runCli(argv: readonly string[], env: CliEnvironment, io: ProgramIo): Promise<number> {
  try {
    const { program, exitCode } = createProgram(env, io);
    await program.parseAsync([...argv]);
    return exitCode();
  } catch (e) {
    const report = describeFailure(e);
    for (const line of report.lines) io.err(line);
    return report.exitCode;
  }
}

import type { Socket } from 'node:net';
import { Command } from '@commander-js/extra-typings';
import { ExecFrameDecoder, ExecFrameType, MAX_EXEC_PAYLOAD, encodeExecFrame, type ExecWireFrame } from '@berth/api';
import type { CliContext, RawStdio } from '../context';
import { UnavailableError } from '@berth/core';
import { ApiError } from '../errors';
import { problemToError } from '../client/problem';

interface ExecFlags {
  readonly stdin: boolean;
  readonly tty: boolean;
}

export function execCommand(ctx: CliContext) {
  return new Command('exec')
    .description('run a command in a running task, on whichever node it runs')
    .argument('<task>', 'a task id (web.1.x7k2p) or SERVICE.SLOT (web.1: the task running in that slot)')
    .argument('<command...>', 'the command and its arguments, after "--"')
    .option('-i, --stdin', "pass this terminal's stdin to the command")
    .option('-t, --tty', 'allocate a terminal in the task (stdout and stderr arrive together, window size follows yours)')
    .addHelpText(
      'after',
      `
The exit code is the command's (126: cannot be run, 127: not found). berth's own errors exit 1
(the task is not running, its node is not connected) or 2 (bad input), with "error:" on stderr.
Ctrl-C without -t, or a lost connection, ends the command in the task; with -t, Ctrl-C goes to it.

Examples:
  berth exec web.1 -- cat /etc/os-release
  berth exec -it web.2 -- sh
  echo ping | berth exec -i redis.1.k3m9q -- redis-cli -x echo`,
    )
    .action(async (task, command, opts) => {
      const code = await runExec(ctx, task, command, { stdin: opts.stdin === true, tty: opts.tty === true });
      ctx.setExitCode(code);
    });
}

/** Relays the command's stdio both ways until it ends; resolves with its exit code. */
async function runExec(ctx: CliContext, task: string, command: readonly string[], flags: ExecFlags): Promise<number> {
  const stdio = ctx.rawStdio();
  // A terminal that does not know its size (0 × 0) leaves the task's at its default.
  const local = flags.tty && stdio.stdout.isTTY === true && (stdio.stdout.rows ?? 0) > 0 && (stdio.stdout.columns ?? 0) > 0 ? { rows: stdio.stdout.rows!, cols: stdio.stdout.columns! } : undefined;
  const client = ctx.client();
  const { socket, head } = await client.openExec(task, { command, tty: flags.tty, stdin: flags.stdin, ...(local ? { size: local } : {}) });
  const raw = flags.tty && flags.stdin && stdio.stdin.isTTY === true && typeof stdio.stdin.setRawMode === 'function';
  if (raw) stdio.stdin.setRawMode!(true);
  try {
    return await relay(socket, head, stdio, flags, raw ? undefined : ctx.interruption(), client.server);
  } finally {
    if (raw) stdio.stdin.setRawMode!(false);
  }
}

function relay(socket: Socket, head: Buffer, stdio: RawStdio, flags: ExecFlags, interrupt: AbortSignal | undefined, server: string): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const decoder = new ExecFrameDecoder();
    let outcome: { code: number } | { error: Error } | undefined;
    const cleanup: (() => void)[] = [];

    // Output: the socket pauses while our stdout or stderr cannot take more, which holds the
    // command back through every hop.
    const write = (to: NodeJS.WritableStream, data: Buffer) => {
      if (!to.write(data)) {
        socket.pause();
        to.once('drain', () => socket.resume());
      }
    };
    const onFrame = (f: ExecWireFrame) => {
      if (f.type === ExecFrameType.stdout) write(stdio.stdout, f.payload);
      else if (f.type === ExecFrameType.stderr) write(stdio.stderr, f.payload);
      else if (f.type === ExecFrameType.exit) outcome = { code: (JSON.parse(f.payload.toString()) as { exitCode: number }).exitCode };
      else if (f.type === ExecFrameType.error) outcome = { error: problemToError(409, f.payload.toString()) };
    };
    const onData = (chunk: Buffer) => {
      try {
        for (const f of decoder.push(chunk)) onFrame(f);
      } catch (e) {
        outcome = { error: new ApiError('INTERNAL', 200, 'Bad answer', `the exec stream from ${server} is malformed: ${(e as Error).message}`, []) };
        socket.destroy();
      }
    };
    socket.on('data', onData);
    socket.on('error', () => undefined); // 'close' follows and says what happened
    socket.on('close', () => {
      for (const c of cleanup) c();
      // Our own stdout may still be writing; exit codes wait for it in main.
      if (!outcome) reject(new UnavailableError(`the connection to ${server} was lost before the command ended; it ends in the task too`));
      else if ('error' in outcome) reject(outcome.error);
      else resolve(outcome.code);
    });
    if (head.length > 0) onData(head);

    if (flags.stdin) {
      const onInput = (data: Buffer) => {
        for (let at = 0; at < data.length; at += MAX_EXEC_PAYLOAD) {
          if (!socket.write(encodeExecFrame(ExecFrameType.stdin, data.subarray(at, at + MAX_EXEC_PAYLOAD)))) {
            stdio.stdin.pause();
            socket.once('drain', () => stdio.stdin.resume());
          }
        }
      };
      const onEnd = () => socket.write(encodeExecFrame(ExecFrameType.stdinClose));
      stdio.stdin.on('data', onInput);
      stdio.stdin.once('end', onEnd);
      cleanup.push(() => {
        stdio.stdin.off('data', onInput);
        stdio.stdin.off('end', onEnd);
        stdio.stdin.pause();
      });
    }
    if (flags.tty && stdio.stdout.isTTY) {
      const onResize = () => {
        if ((stdio.stdout.rows ?? 0) > 0 && (stdio.stdout.columns ?? 0) > 0) {
          socket.write(encodeExecFrame(ExecFrameType.resize, JSON.stringify({ rows: stdio.stdout.rows, cols: stdio.stdout.columns })));
        }
      };
      stdio.stdout.on('resize', onResize);
      cleanup.push(() => stdio.stdout.off('resize', onResize));
    }
    if (interrupt) {
      // Ctrl-C: closing the connection ends the command in the task; 130 as a shell would say.
      const onInterrupt = () => {
        outcome ??= { code: 130 };
        socket.destroy();
      };
      interrupt.addEventListener('abort', onInterrupt, { once: true });
      cleanup.push(() => interrupt.removeEventListener('abort', onInterrupt));
    }
  });
}

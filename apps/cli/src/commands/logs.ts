import { setMaxListeners } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { Command } from '@commander-js/extra-typings';
import type { TaskView } from '@berth/api';
import type { BerthClient } from '../client/http-client';
import type { CliContext } from '../context';
import { UsageError } from '../errors';
import { describeFailure } from '../output/failure';
import { formatLogLine, isTaskId, type LogFormat } from '../output/log-lines';

/** How often `logs -f SERVICE` looks for tasks that started after it did. */
export const NEW_TASK_POLL_MS = 2000;

interface LogOptions {
  readonly follow: boolean;
  readonly tail?: number;
  readonly timestamps: boolean;
  /** A VM task's guest console instead of the workload's output. */
  readonly console: boolean;
  readonly signal: AbortSignal;
}

export function logsCommand(ctx: CliContext) {
  return new Command('logs')
    .description('print the logs of one task, or of every running task of a service')
    .argument('<target>', 'a task id (web.1.x7k2p) or a service name (web)')
    .option('-f, --follow', 'keep printing new lines until Ctrl-C (with a service: also of tasks started later)')
    .option('--tail <n>', 'start with the last N lines of each task', parseTail)
    .option('--timestamps', "print each line's time (RFC 3339) before its text")
    .option('--console', "a VM task's boot console (kernel and guest init messages) instead of its workload's output")
    .addHelpText(
      'after',
      `
A service's lines are prefixed with their task: "[web.1.x7k2p] listening on :8080".
Ctrl-C stops following and exits 0. An unknown task or service exits 1.

Examples:
  berth logs web.1.x7k2p
  berth logs web -f --tail 20
  berth logs vmweb.1.k3m9q --console`,
    )
    .action(async (target, opts) => {
      const options: LogOptions = {
        follow: opts.follow === true,
        ...(opts.tail === undefined ? {} : { tail: opts.tail }),
        timestamps: opts.timestamps === true,
        console: opts.console === true,
        signal: ctx.interruption(),
      };
      const client = ctx.client();
      if (isTaskId(target)) await printTaskLogs(ctx, client, target, options, { timestamps: options.timestamps });
      else await printServiceLogs(ctx, client, target, options);
    });
}

export function parseTail(value: string): number {
  if (!/^\d+$/.test(value)) throw new UsageError(`--tail must be a whole number of lines (got "${value}")`);
  return Number(value);
}

async function printTaskLogs(ctx: CliContext, client: BerthClient, id: string, o: LogOptions, format: LogFormat): Promise<void> {
  const lines = client.taskLogs(id, { follow: o.follow, console: o.console, signal: o.signal, ...(o.tail === undefined ? {} : { tail: o.tail }) });
  for await (const line of lines) {
    ctx.out(formatLogLine(line, format));
    // A reader slower than the log (`berth logs -f web | slow`): wait for it rather than buffer.
    await ctx.outDrained();
  }
}

/**
 * Streams every running task of a service at once, each line prefixed with its task. One task's
 * failure (its node is not connected) is reported and does not stop the others; it exits 1.
 */
async function printServiceLogs(ctx: CliContext, client: BerthClient, service: string, o: LogOptions): Promise<void> {
  await client.getService(service); // an unknown service is NOT_FOUND (exit 1), not an empty log
  // Every streamed task listens for Ctrl-C on this one signal; a big service is not a leak.
  setMaxListeners(0, o.signal);
  const attached = new Set<string>();
  const streams: Promise<void>[] = [];
  const attach = (tasks: readonly TaskView[]) => {
    for (const t of startedTasks(tasks).filter((t) => !attached.has(t.metadata.name))) {
      attached.add(t.metadata.name);
      streams.push(streamOne(ctx, client, t.metadata.name, o));
    }
  };
  attach(await client.listTasks(service));
  if (attached.size === 0) ctx.err(`berth: service ${service} has no running tasks${o.follow ? ' yet; waiting for some (Ctrl-C to stop)' : ''}`);
  if (o.follow) await watchForNewTasks(client, service, o.signal, attach);
  await Promise.all(streams);
}

async function streamOne(ctx: CliContext, client: BerthClient, id: string, o: LogOptions): Promise<void> {
  try {
    await printTaskLogs(ctx, client, id, o, { timestamps: o.timestamps, task: id });
  } catch (e) {
    ctx.err(`error: logs of ${id}: ${describeFailure(e).lines.join(' ').replace(/^error: /, '')}`);
    ctx.setExitCode(1);
  }
}

/** Until Ctrl-C: attaches tasks that started after the first listing. */
async function watchForNewTasks(client: BerthClient, service: string, signal: AbortSignal, attach: (tasks: readonly TaskView[]) => void): Promise<void> {
  while (!signal.aborted) {
    try {
      await sleep(NEW_TASK_POLL_MS, undefined, { signal });
    } catch {
      return; // interrupted
    }
    attach(await client.listTasks(service));
  }
}

/** Tasks whose container exists and is not done: before that a node has no log to send. */
function startedTasks(tasks: readonly TaskView[]): TaskView[] {
  return tasks
    .filter((t) => t.status.state === 'starting' || t.status.state === 'running')
    .sort((a, b) => a.metadata.slot - b.metadata.slot || a.metadata.name.localeCompare(b.metadata.name));
}

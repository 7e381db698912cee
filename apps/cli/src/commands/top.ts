import { setTimeout as sleep } from 'node:timers/promises';
import { Command, Option } from '@commander-js/extra-typings';
import type { TopView } from '@berth/api';
import { formatDuration } from '@berth/core';
import type { CliContext } from '../context';
import { ApiError, UnreachableError } from '../errors';
import { serialize } from '../output/serialize';
import { renderNodeTop, renderTaskTop, TopFrames, topWarnings } from '../output/top';

/** How often `-w` asks again (each answer itself takes about a second: the control plane samples twice). */
export const TOP_REFRESH_MS = 2000;

const OUTPUT = () => new Option('-o, --output <format>', 'json: the API\'s answer, { items, sampledOverSeconds, errors } (with -w one per line)').choices(['json'] as const);
const WATCH_HELP = `ask again every ${formatDuration(TOP_REFRESH_MS)} until Ctrl-C (on a terminal the table is redrawn in place)`;

/** What a `top` subcommand shows, and how. */
interface TopShow<T> {
  read(): Promise<TopView<T>>;
  render(items: readonly T[]): string;
  /** For stderr when there is nothing to show and no node failed either. */
  readonly none: string;
}

/**
 * `stdoutIsTty`: whether `-w` may redraw in place; the program does not pass it, so it is read
 * here (the context knows about stderr only).
 */
export function topCommand(ctx: CliContext, o: { stdoutIsTty?: boolean } = {}) {
  const tty = o.stdoutIsTty ?? process.stdout.isTTY === true;
  const top = new Command('top').description('show the CPU and memory that nodes and tasks use now, as their agents measure them').addHelpText(
    'after',
    `
The control plane reads every ready node's agent metrics (GET http://METRICS-ADDRESS/metrics) twice,
a second apart: CPU% is the CPU time used in between, in percent of one core (a node's is the sum
of its tasks', so 4 busy cores show 400%); MEMORY is the working set (what the OOM killer looks at).
A task that started between the two reads shows "-" for CPU%. Nodes that are not ready or export no
metrics (berth agent --no-metrics) are left out; a node whose agent could not be read is named on
stderr ("warning: node n2: …") and the others are shown. Exit 0 either way; Ctrl-C ends -w with 0.

Examples:
  berth top nodes
  berth top tasks --service web
  berth top tasks --node n2 -w
  berth top nodes -o json`,
  );

  top.addCommand(
    new Command('nodes')
      .description('per node: CPU% and memory of its tasks, what they reserve (ALLOC-…), what it has (CAPACITY-…)')
      .option('-w, --watch', WATCH_HELP)
      .addOption(OUTPUT())
      .action(async (opts) => {
        const client = ctx.client();
        await show(ctx, opts, tty, { read: () => client.topNodes(), render: renderNodeTop, none: 'No nodes with metrics found.' });
      }),
  );

  top.addCommand(
    new Command('tasks')
      .description('per task: CPU%, memory, and how close it is to its limits')
      .option('--service <name>', 'only the tasks of this service')
      .option('--node <name>', 'only the tasks on this node (only its agent is read)')
      .option('-w, --watch', WATCH_HELP)
      .addOption(OUTPUT())
      .action(async (opts) => {
        const client = ctx.client();
        const filter = { ...(opts.service ? { service: opts.service } : {}), ...(opts.node ? { node: opts.node } : {}) };
        await show(ctx, opts, tty, { read: () => client.topTasks(filter), render: renderTaskTop, none: 'No tasks found.' });
      }),
  );
  return top;
}

async function show<T>(ctx: CliContext, opts: { watch?: true; output?: 'json' }, tty: boolean, what: TopShow<T>): Promise<void> {
  const json = opts.output === 'json';
  if (!opts.watch) {
    const view = await what.read();
    if (json) ctx.out(serialize(view, 'json'));
    else if (view.items.length > 0) ctx.out(what.render(view.items));
    else if (view.errors.length === 0) ctx.err(what.none);
    for (const line of topWarnings(view.errors)) ctx.err(line);
    return;
  }
  const frames = new TopFrames(tty);
  await watchTop({
    read: what.read,
    signal: ctx.interruption(),
    say: ctx.err,
    show: (view) => {
      if (json) ctx.out(JSON.stringify(view));
      else ctx.out(frames.next(what.render(view.items))); // no items: the headers alone
      for (const line of topWarnings(view.errors)) ctx.err(line);
    },
  });
}

export interface WatchTopOptions<T> {
  read(): Promise<TopView<T>>;
  show(view: TopView<T>): void;
  /** A line for stderr: an answer failed, and it is asked again. */
  say(line: string): void;
  /** Ctrl-C: ends quietly, also while an answer is awaited. */
  readonly signal: AbortSignal;
  readonly intervalMs?: number;
}

/**
 * Shows an answer every `intervalMs` (from the start of one request to the next) until `signal`
 * aborts. The first request failing throws (a wrong server, say); later ones that a retry may
 * change (unreachable, 5xx) are reported on stderr and asked again at the next tick.
 */
export async function watchTop<T>(o: WatchTopOptions<T>): Promise<void> {
  const interval = o.intervalMs ?? TOP_REFRESH_MS;
  const aborted = new Promise<'aborted'>((resolve) => o.signal.addEventListener('abort', () => resolve('aborted'), { once: true }));
  for (let first = true; !o.signal.aborted; first = false) {
    const started = performance.now();
    // The request is not cancelled on Ctrl-C: its answer is just not awaited (it never rejects).
    const answer = await Promise.race([o.read().then((view) => ({ view }), (error: unknown) => ({ error })), aborted]);
    if (answer === 'aborted') return;
    if ('view' in answer) o.show(answer.view);
    else if (first || !retryable(answer.error)) throw answer.error;
    else o.say(`berth: ${failure(answer.error)}; asking again in ${formatDuration(interval)}`);
    try {
      await sleep(Math.max(0, interval - (performance.now() - started)), undefined, { signal: o.signal });
    } catch {
      return; // Ctrl-C while waiting
    }
  }
}

function retryable(e: unknown): boolean {
  return e instanceof UnreachableError || (e instanceof ApiError && e.status >= 500);
}

function failure(e: unknown): string {
  if (e instanceof UnreachableError) return `${e.message}: ${e.reason}`;
  return e instanceof Error ? e.message : String(e);
}

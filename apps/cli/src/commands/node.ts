import { setTimeout as sleep } from 'node:timers/promises';
import { Command } from '@commander-js/extra-typings';
import type { NodeAvailability } from '@berth/core';
import { formatDuration } from '@berth/core';
import type { CliContext } from '../context';
import { AnswerIsNoError, UsageError } from '../errors';
import { assessDrain } from '../output/drain';
import { ProgressBoard } from '../output/progress';
import { DEFAULT_WAIT_TIMEOUT, parseTimeout, POLL_INTERVAL_MS } from './wait';

const ACTIONS: readonly { name: string; availability: NodeAvailability; done: string; help: string }[] = [
  {
    name: 'drain',
    availability: 'drain',
    done: 'drained',
    help: "move its tasks elsewhere and place none on it: each replicated task starts on another node first, and stops here once its replacement runs (Swarm's drain, without the gap)",
  },
  { name: 'pause', availability: 'pause', done: 'paused', help: 'keep its tasks but place no new ones on it' },
  { name: 'activate', availability: 'active', done: 'activated', help: 'undo drain or pause: the scheduler may place tasks on it again' },
];

/** A stuck drain is reported once it has stayed stuck this long: the scheduler may still be catching up. */
const STUCK_CONFIRM_MS = 2_000;

export function nodeCommand(ctx: CliContext) {
  const node = new Command('node')
    .description("change a node's availability for tasks (drain, pause, activate), its labels, or remove it")
    .addHelpText(
      'after',
      '\nExamples:\n  berth node drain n1 --wait\n  berth node pause n1\n  berth node activate n1\n  berth node label n1 zone=a rack-\n  berth node rm n3',
    );
  for (const action of ACTIONS) {
    const cmd = new Command(action.name).description(action.help).argument('<name>', 'the node');
    if (action.availability === 'drain') {
      cmd
        .option('--wait', 'wait until every task of the node has stopped (exit 0), or until nothing more can move (exit 3)')
        .option('--timeout <duration>', `how long --wait waits (default: ${DEFAULT_WAIT_TIMEOUT}); exit 3 when the node is not empty by then`, parseTimeout);
    }
    node.addCommand(
      cmd.action(async (name, opts: { wait?: boolean; timeout?: number }) => {
        if (opts.timeout !== undefined && !opts.wait) throw new UsageError('--timeout only applies with --wait');
        await ctx.client().setNodeAvailability(name, action.availability);
        ctx.out(`node/${name} ${action.done}`);
        if (opts.wait) await waitForDrain(ctx, name, opts.timeout ?? parseTimeout(DEFAULT_WAIT_TIMEOUT));
      }),
    );
  }
  node.addCommand(labelCommand(ctx));
  node.addCommand(removeCommand(ctx));
  return node;
}

function labelCommand(ctx: CliContext) {
  return new Command('label')
    .description("set (KEY=VALUE) or remove (KEY-) a node's labels; placement constraints and spreadBy use them at once")
    .argument('<name>', 'the node')
    .argument('<changes...>', 'KEY=VALUE to set a label, KEY- to remove one')
    .addHelpText(
      'after',
      `
Labels set here are the operator's: they are kept when the node's agent reconnects, over any
--label the agent was started with. A global service follows at once: a node that now matches
its constraints gets a task, one that no longer does loses its task.

Examples:
  berth node label n4 zone=a
  berth node label n4 zone=b disk=ssd
  berth node label n4 zone-`,
    )
    .action(async (name, changes) => {
      const change = parseLabelChanges(changes);
      const view = await ctx.client().setNodeLabels(name, change);
      const labels = Object.entries(view.metadata.labels).map(([k, v]) => `${k}=${v}`).join(',');
      ctx.out(`node/${name} labeled${labels ? ` (${labels})` : ' (no labels left)'}`);
    });
}

/** `zone=a` sets, `zone-` removes; anything else (or a key given twice) is a usage error. */
export function parseLabelChanges(args: readonly string[]): { set: Record<string, string>; remove: string[] } {
  const set: Record<string, string> = {};
  const remove: string[] = [];
  const seen = new Set<string>();
  for (const arg of args) {
    const eq = arg.indexOf('=');
    const key = eq > 0 ? arg.slice(0, eq) : arg.endsWith('-') && arg.length > 1 ? arg.slice(0, -1) : undefined;
    if (key === undefined) throw new UsageError(`"${arg}" is neither KEY=VALUE (set a label) nor KEY- (remove one)`);
    if (seen.has(key)) throw new UsageError(`label "${key}" is given more than once`);
    seen.add(key);
    if (eq > 0) set[key] = arg.slice(eq + 1);
    else remove.push(key);
  }
  return { set, remove };
}

function removeCommand(ctx: CliContext) {
  return new Command('rm')
    .alias('remove')
    .description('forget a node that is down; with --force also a ready one')
    .argument('<name>', 'the node')
    .option('--force', "also remove a node that is ready: its tasks are replaced on other nodes and its agent's session ends")
    .addHelpText(
      'after',
      `
A node is ready while its agent holds a session: stop the agent first (the node is marked down
once its lease runs out), or drain it and use --force. The tasks recorded on a removed node are
replaced elsewhere, like those of a node that went down. An agent that connects again under the
same name registers as a new node.

Examples:
  berth node rm n3
  berth node drain n3 --wait && berth node rm n3 --force`,
    )
    .action(async (name, opts: { force?: boolean }) => {
      const view = await ctx.client().removeNode(name, opts.force === true);
      const tasks = view.status.tasks;
      ctx.out(`node/${name} removed${tasks > 0 ? ` (${tasks} task${tasks === 1 ? ' was' : 's were'} on it: replicated ones are replaced on other nodes)` : ''}`);
    });
}

/**
 * Polls every task until the node is empty, printing progress on stderr. Throws AnswerIsNoError
 * (exit 3) when the tasks left fit no other node, or when `timeoutMs` passes first.
 */
async function waitForDrain(ctx: CliContext, node: string, timeoutMs: number): Promise<void> {
  const client = ctx.client();
  const board = new ProgressBoard(ctx.stderrIsTty);
  const started = ctx.now().getTime();
  let stuckSince: number | undefined;
  try {
    for (;;) {
      const progress = assessDrain(node, await client.listTasks());
      const now = ctx.now().getTime();
      if (progress.kind === 'empty') break;
      if (progress.kind === 'stuck') {
        stuckSince ??= now;
        if (now - stuckSince >= STUCK_CONFIRM_MS) throw new AnswerIsNoError(`node/${node} could not be emptied:\n${progress.reasons.join('\n')}`);
      } else {
        stuckSince = undefined;
        const text = board.update([progress.line]);
        if (text) ctx.errRaw(text);
      }
      if (now - started >= timeoutMs) throw new AnswerIsNoError(`node/${node} is not empty after ${formatDuration(timeoutMs)}${progress.kind === 'moving' ? `: ${progress.line}` : ''}`);
      await sleep(POLL_INTERVAL_MS);
    }
  } finally {
    const text = board.finish();
    if (text) ctx.errRaw(text);
  }
  ctx.out(`node/${node} is empty`);
}

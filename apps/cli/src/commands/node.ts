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
    .description("change a node's availability for tasks (drain, pause, activate)")
    .addHelpText('after', '\nExamples:\n  berth node drain n1 --wait\n  berth node pause n1\n  berth node activate n1');
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
  return node;
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

import { Command, Option } from '@commander-js/extra-typings';
import { serviceNameProblem } from '@berth/core';
import type { CliContext } from '../context';
import { UsageError } from '../errors';
import { defaultUndoTarget, renderHistory, undoLine } from '../output/history';
import { rolloutResult } from '../output/results';
import { revisionTarget, type WaitTarget } from '../output/rollout';
import { serialize } from '../output/serialize';
import { DEFAULT_WAIT_TIMEOUT, parseTimeout, stoppedError, waitForServices } from './wait';

const TIMEOUT_HELP = `how long to follow the rollout (default: ${DEFAULT_WAIT_TIMEOUT}); exit 1 then, and the rollout goes on`;

export function rolloutCommand(ctx: CliContext) {
  const rollout = new Command('rollout')
    .description("follow, list, undo, pause, resume or restart a service's rolling update")
    .addHelpText(
      'after',
      `
Every change of a service's spec other than its replica count makes a new revision, and so do
"rollout restart" and "rollout undo"; the last 10 are kept. The leader rolls a revision out by
replacing update.parallelism tasks at a time, each watched for update.monitor. A rollout is
  updating      replacing tasks
  paused        failures exceeded update.maxFailureRatio with failureAction pause, a task fits
                no node, or "rollout pause"
  rolling-back  failures exceeded it with failureAction rollback: the previous spec came back as
  rolled-back   a new revision, rolled out with the rollback: settings
  completed     every task runs the revision

Progress goes to stderr (on a terminal rewritten in place): "web: updating 2/4 (revision 3)".
Exit status: 0 done, 1 error or --timeout, 2 invalid input, 3 the rollout paused or was rolled back
(the reason is printed).

Examples:
  berth rollout status web --timeout 2m
  berth rollout history web
  berth rollout undo web --to-revision 2 --wait
  berth rollout pause web
  berth rollout resume web
  berth rollout restart web --wait`,
    );

  rollout.addCommand(
    new Command('status')
      .description("follow the rollout of the service's current revision: exit 0 once it completed and every task runs, 3 when it paused or was rolled back")
      .argument('<service>', 'the service')
      .option('--timeout <duration>', TIMEOUT_HELP, parseTimeout)
      .addOption(new Option('-o, --output <format>', 'print the rollout record (status.rollout) as JSON, with "name" and "result": converged, paused or rolled-back (also on exit 3)').choices(['json'] as const))
      .action(async (name, opts) => {
        checkName(name);
        const service = await ctx.client().getService(name);
        await follow(ctx, revisionTarget(service), opts.timeout, opts.output === 'json');
      }),
  );

  rollout.addCommand(
    new Command('history')
      .description('list the kept revisions of a service, oldest first; * marks the current one')
      .argument('<service>', 'the service')
      .addOption(new Option('-o, --output <format>', "json or yaml: the API's revisions, each with its spec").choices(['json', 'yaml'] as const))
      .action(async (name, opts) => {
        checkName(name);
        const items = await ctx.client().listRevisions(name);
        if (opts.output) ctx.out(serialize(items, opts.output));
        else if (items.length === 0) ctx.err('No revisions found.');
        else ctx.out(renderHistory(items, ctx.now()));
      }),
  );

  rollout.addCommand(
    new Command('undo')
      .description("make an earlier revision's spec current again, as a new revision that is rolled out")
      .argument('<service>', 'the service')
      .option('--to-revision <n>', 'the revision to return to (default: the one before the current rollout; see "berth rollout history")', parseRevision)
      .option('--wait', 'then follow the rollout as "rollout status" does')
      .option('--timeout <duration>', TIMEOUT_HELP, parseTimeout)
      .action(async (name, opts) => {
        checkName(name);
        checkTimeout(opts);
        const client = ctx.client();
        const before = await client.getService(name);
        const after = await client.undoRollout(name, opts.toRevision);
        ctx.out(undoLine(name, opts.toRevision ?? defaultUndoTarget(before), after.metadata.revision));
        if (opts.wait) await follow(ctx, revisionTarget(after, before.metadata.revision), opts.timeout, false);
      }),
  );

  for (const action of ['pause', 'resume'] as const) {
    const help = action === 'pause' ? 'stop replacing tasks of the current rollout (the tasks keep running)' : 'continue a paused rollout';
    rollout.addCommand(
      new Command(action)
        .description(help)
        .argument('<service>', 'the service')
        .action(async (name) => {
          checkName(name);
          await ctx.client().controlRollout(name, action);
          ctx.out(`service/${name} ${action === 'pause' ? 'paused' : 'resumed'}`);
        }),
    );
  }

  rollout.addCommand(
    new Command('restart')
      .description('replace every task of the service with a new one of the same spec (a new revision, rolled out with the update: settings)')
      .argument('<service>', 'the service')
      .option('--wait', 'then follow the rollout as "rollout status" does')
      .option('--timeout <duration>', TIMEOUT_HELP, parseTimeout)
      .action(async (name, opts) => {
        checkName(name);
        checkTimeout(opts);
        const after = await ctx.client().controlRollout(name, 'restart');
        ctx.out(`service/${name} restarted (revision ${after.metadata.revision})`);
        if (opts.wait) await follow(ctx, revisionTarget(after), opts.timeout, false);
      }),
  );
  return rollout;
}

/**
 * Follows one rollout to its end. Exit 0 with `service/NAME rolled out (revision N)` on stdout
 * (or the JSON result); a paused or rolled back rollout prints the JSON result too, then exits 3.
 */
async function follow(ctx: CliContext, target: WaitTarget, timeoutMs: number | undefined, json: boolean): Promise<void> {
  const [outcome] = await waitForServices(ctx, [target], timeoutMs ?? parseTimeout(DEFAULT_WAIT_TIMEOUT));
  if (!outcome) return;
  if (json) ctx.out(JSON.stringify(rolloutResult(outcome), null, 2));
  else if (outcome.result === 'converged') ctx.out(`service/${target.service} rolled out (revision ${outcome.service.metadata.revision})`);
  const stopped = stoppedError([outcome]);
  if (stopped) throw stopped;
}

function checkName(name: string): void {
  const problem = serviceNameProblem(name);
  if (problem) throw new UsageError(`service name ${problem}`);
}

function checkTimeout(opts: { wait?: boolean; timeout?: number }): void {
  if (opts.timeout !== undefined && !opts.wait) throw new UsageError('--timeout only applies with --wait');
}

/** Parses `--to-revision N`: a revision number ≥ 1. */
export function parseRevision(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1) throw new UsageError(`--to-revision must be a revision number ≥ 1 (got "${value}")`);
  return Number(value);
}

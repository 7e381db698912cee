import { Command, Option } from '@commander-js/extra-typings';
import type { CliContext } from '../context';
import { UsageError } from '../errors';
import { formatApplyItems, waitedItems } from '../output/results';
import { collect, readValidManifests } from './manifests';
import { DEFAULT_WAIT_TIMEOUT, parseTimeout, snapshotServices, stoppedError, targetsFor, waitForServices } from './wait';

export function applyCommand(ctx: CliContext) {
  return new Command('apply')
    .description('create or update services from manifests (all of them in one transaction, or none)')
    .requiredOption('-f, --filename <path>', 'a manifest file, a directory of *.yaml/*.yml files, or - for stdin (repeatable)', collect)
    .option('--dry-run', 'validate and report what would change, without storing anything')
    .option('--wait', "after applying, wait until every applied service runs its desired tasks of the new spec (following each changed service's rollout)")
    .option('--timeout <duration>', `how long --wait waits (default: ${DEFAULT_WAIT_TIMEOUT}); the rollouts go on after it`, parseTimeout)
    .addOption(
      new Option('-o, --output <format>', 'print the applied services as JSON; with --wait, how each one ended (see below)').choices(['json'] as const),
    )
    .addHelpText(
      'after',
      `
Manifests are validated locally first; issues are printed as FILE:LINE:COL and nothing is sent.
Each service's image is pinned to the digest its tag names now (spec.template.imagePull: always or
ifNotPresent opts out); a registry the server cannot reach leaves it unpinned, with a warning on stderr.
With --wait, progress goes to stderr (on a terminal rewritten in place), one line per service:
a new service "web: 2/3 running"; a changed one follows the rollout of its new revision,
"web: updating 2/4 (revision 3)", until the leader completed it and all its tasks run. It ends
  with exit 3 when a rollout paused ("web: rollout paused: web.2.k3x failed …") or was rolled
    back by update.failureAction rollback ("web: rolled back to revision 2: …");
  with exit 1 when a task of a new service fails, when someone changed the service again
    meanwhile, or on timeout (what is missing is printed).
With --wait -o json, stdout gets one JSON document once the wait ends (exit 0 or 3):
  { "items": [{ "name", "action", "revision", "rollout": status.rollout or null,
                "result": "converged" | "paused" | "rolled-back" }] }
Exit status: 0 applied (and converged), 2 invalid manifest, 3 a rollout paused or rolled back,
1 any other error (e.g. a stale metadata.resourceVersion).

Examples:
  berth apply -f web.yaml
  berth apply -f web.yaml --wait --timeout 2m
  berth apply -f manifests/ --dry-run
  cat web.yaml | berth apply -f -`,
    )
    .action(async (opts) => {
      const dryRun = opts.dryRun === true;
      if (dryRun && opts.wait) throw new UsageError('--wait cannot be combined with --dry-run (nothing is written to wait for)');
      if (opts.timeout !== undefined && !opts.wait) throw new UsageError('--timeout only applies with --wait');
      const { sources, drafts } = await readValidManifests(ctx, opts.filename);
      const client = ctx.client();
      const before = opts.wait ? await snapshotServices(client, drafts.map((d) => d.name)) : [];
      const { items, warnings } = await client.apply(sources, { dryRun });
      // On stderr in every format: -o json keeps stdout for the JSON.
      for (const w of warnings) ctx.err(`warning: ${w}`);
      const json = opts.output === 'json';
      if (json && !opts.wait) ctx.out(JSON.stringify(items, null, 2));
      if (!json) for (const line of formatApplyItems(items, dryRun)) ctx.out(line);
      if (opts.wait) {
        const timeout = opts.timeout ?? parseTimeout(DEFAULT_WAIT_TIMEOUT);
        const outcomes = await waitForServices(ctx, targetsFor(before, items.map((i) => i.service)), timeout);
        if (json) ctx.out(JSON.stringify(waitedItems(items, outcomes), null, 2));
        const stopped = stoppedError(outcomes);
        if (stopped) throw stopped;
      }
    });
}

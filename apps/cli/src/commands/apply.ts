import { Command, Option } from '@commander-js/extra-typings';
import type { CliContext } from '../context';
import { UsageError } from '../errors';
import { formatApplyItems } from '../output/results';
import { collect, readValidManifests } from './manifests';
import { DEFAULT_WAIT_TIMEOUT, parseTimeout, snapshotServices, targetsFor, waitForServices } from './wait';

export function applyCommand(ctx: CliContext) {
  return new Command('apply')
    .description('create or update services from manifests (all of them in one transaction, or none)')
    .requiredOption('-f, --filename <path>', 'a manifest file, a directory of *.yaml/*.yml files, or - for stdin (repeatable)', collect)
    .option('--dry-run', 'validate and report what would change, without storing anything')
    .option('--wait', 'after applying, wait until every applied service runs its desired tasks of the new spec')
    .option('--timeout <duration>', `how long --wait waits (default: ${DEFAULT_WAIT_TIMEOUT})`, parseTimeout)
    .addOption(new Option('-o, --output <format>', 'print the applied services as JSON').choices(['json'] as const))
    .addHelpText(
      'after',
      `
Manifests are validated locally first; issues are printed as FILE:LINE:COL and nothing is sent.
With --wait, progress ("web: 2/3 running") goes to stderr; it ends when all tasks run, or with
exit 1 when a new task fails (its message is printed) or on timeout (what is missing is printed).
Exit status: 0 applied, 2 invalid manifest, 1 any other error (e.g. a stale metadata.resourceVersion).

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
      const items = await client.apply(sources, { dryRun });
      if (opts.output === 'json') ctx.out(JSON.stringify(items, null, 2));
      else for (const line of formatApplyItems(items, dryRun)) ctx.out(line);
      if (opts.wait) {
        const timeout = opts.timeout ?? parseTimeout(DEFAULT_WAIT_TIMEOUT);
        await waitForServices(ctx, targetsFor(before, items.map((i) => i.service)), timeout);
      }
    });
}

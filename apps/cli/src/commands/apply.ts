import { Command, Option } from '@commander-js/extra-typings';
import type { CliContext } from '../context';
import { formatApplyItems } from '../output/results';
import { collect, readValidManifests } from './manifests';

export function applyCommand(ctx: CliContext) {
  return new Command('apply')
    .description('create or update services from manifests (all of them in one transaction, or none)')
    .requiredOption('-f, --filename <path>', 'a manifest file, a directory of *.yaml/*.yml files, or - for stdin (repeatable)', collect)
    .option('--dry-run', 'validate and report what would change, without storing anything')
    .addOption(new Option('-o, --output <format>', 'print the applied services as JSON').choices(['json'] as const))
    .addHelpText(
      'after',
      `
Manifests are validated locally first; issues are printed as FILE:LINE:COL and nothing is sent.
Exit status: 0 applied, 2 invalid manifest, 1 any other error (e.g. a stale metadata.resourceVersion).

Examples:
  berth apply -f web.yaml
  berth apply -f manifests/ --dry-run
  cat web.yaml | berth apply -f -`,
    )
    .action(async (opts) => {
      const { sources } = await readValidManifests(ctx, opts.filename);
      const dryRun = opts.dryRun === true;
      const items = await ctx.client().apply(sources, { dryRun });
      if (opts.output === 'json') ctx.out(JSON.stringify(items, null, 2));
      else for (const line of formatApplyItems(items, dryRun)) ctx.out(line);
    });
}

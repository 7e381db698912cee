import { Command } from '@commander-js/extra-typings';
import type { CliContext } from '../context';
import { formatDiffs, hasDifferences } from '../output/results';
import { collect, readValidManifests } from './manifests';

export function diffCommand(ctx: CliContext) {
  return new Command('diff')
    .description('show how applying manifests would change the stored services (unified diff)')
    .requiredOption('-f, --filename <path>', 'a manifest file, a directory of *.yaml/*.yml files, or - for stdin (repeatable)', collect)
    .option('--exit-code', 'exit 1 when anything differs, 0 when nothing does (like git diff --exit-code)')
    .addHelpText(
      'after',
      `
Each changed service prints as "--- NAME (live)" / "+++ NAME (manifest)" and its hunks.
Exit status: 0 (with --exit-code: 0 no differences, 1 differences), 2 invalid manifest, 1 other errors.`,
    )
    .action(async (opts) => {
      const { sources } = await readValidManifests(ctx, opts.filename);
      const items = await ctx.client().diff(sources);
      const text = formatDiffs(items);
      if (text) ctx.out(text);
      if (opts.exitCode && hasDifferences(items)) ctx.setExitCode(1);
    });
}

import { Command, Option } from '@commander-js/extra-typings';
import type { CliContext } from '../context';
import { UsageError } from '../errors';
import { renderPlan } from '../output/plan';
import { serialize } from '../output/serialize';

const FORMATS = ['text', 'json', 'yaml'] as const;

/** Exit code when something would not fit: "the answer is no", as for `drain --wait`. */
const DOES_NOT_FIT = 3;

export function planCommand(ctx: CliContext) {
  return new Command('plan')
    .description('simulate the loss of nodes: where their tasks would go, and what would not fit (nothing changes)')
    .requiredOption('--without <nodes>', 'the nodes to imagine gone, comma-separated (n1 or n1,n2)')
    .addOption(new Option('-o, --output <format>', 'output format').choices(FORMATS).default('text' as (typeof FORMATS)[number]))
    .addHelpText(
      'after',
      `
The control plane runs its scheduler against the cluster as it is now, with the named nodes
gone: every live task of a replicated service there is placed again, by its own resources,
constraints and spread, next to everything that keeps running elsewhere. A global service's task
stops with its node. Nothing is written.

Exit codes: 0 everything would fit; 3 some task would not fit (it is named, with why); 1 or 2 on
errors (an unknown node is 1).

Examples:
  berth plan --without n1
  berth plan --without n1,n2 -o json`,
    )
    .action(async (opts) => {
      const names = opts.without.split(',').map((n) => n.trim()).filter((n) => n !== '');
      if (names.length === 0) throw new UsageError('--without needs at least one node name (n1 or n1,n2)');
      const plan = await ctx.client().planWithout(names);
      ctx.out(opts.output === 'text' ? renderPlan(plan) : serialize(plan, opts.output));
      if (!plan.fits) ctx.setExitCode(DOES_NOT_FIT);
    });
}

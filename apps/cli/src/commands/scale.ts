import { Command } from '@commander-js/extra-typings';
import type { CliContext } from '../context';
import { parseScaleArgs } from '../input/args';

export function scaleCommand(ctx: CliContext) {
  return new Command('scale')
    .description('set the number of replicas of one or more services')
    .argument('<SERVICE=N...>', 'service name and replica count (0..10000)')
    .addHelpText('after', '\nExamples:\n  berth scale web=5\n  berth scale web=5 api=2')
    .action(async (args) => {
      // Every argument is checked before the first request, so a typo changes nothing.
      const requests = parseScaleArgs(args);
      const client = ctx.client();
      for (const r of requests) {
        await client.scaleService(r.service, r.replicas);
        ctx.out(`service/${r.service} scaled to ${r.replicas}`);
      }
    });
}

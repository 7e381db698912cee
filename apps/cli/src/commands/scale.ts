import { Command } from '@commander-js/extra-typings';
import type { ServiceView } from '@berth/api';
import type { CliContext } from '../context';
import { UsageError } from '../errors';
import { parseScaleArgs } from '../input/args';
import { DEFAULT_WAIT_TIMEOUT, parseTimeout, snapshotServices, stoppedError, targetsFor, waitForServices } from './wait';

export function scaleCommand(ctx: CliContext) {
  return new Command('scale')
    .description('set the number of replicas of one or more services')
    .argument('<SERVICE=N...>', 'service name and replica count (0..10000)')
    .option('--wait', 'after scaling, wait until each service runs that many tasks')
    .option('--timeout <duration>', `how long --wait waits (default: ${DEFAULT_WAIT_TIMEOUT})`, parseTimeout)
    .addHelpText(
      'after',
      `
A scale makes no new revision and starts no rollout: --wait ends when that many tasks run, with
exit 1 when a new task fails or on timeout (what is missing is printed).

Examples:
  berth scale web=5
  berth scale web=5 api=2
  berth scale web=3 --wait --timeout 1m`,
    )
    .action(async (args, opts) => {
      // Every argument is checked before the first request, so a typo changes nothing.
      const requests = parseScaleArgs(args);
      if (opts.timeout !== undefined && !opts.wait) throw new UsageError('--timeout only applies with --wait');
      const client = ctx.client();
      const before = opts.wait ? await snapshotServices(client, requests.map((r) => r.service)) : [];
      const scaled: ServiceView[] = [];
      for (const r of requests) {
        scaled.push(await client.scaleService(r.service, r.replicas));
        ctx.out(`service/${r.service} scaled to ${r.replicas}`);
      }
      if (opts.wait) {
        const stopped = stoppedError(await waitForServices(ctx, targetsFor(before, scaled), opts.timeout ?? parseTimeout(DEFAULT_WAIT_TIMEOUT)));
        if (stopped) throw stopped;
      }
    });
}

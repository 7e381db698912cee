import { Command } from '@commander-js/extra-typings';
import type { CliContext } from '../context';
import { explainTask } from '../output/why';

export function whyCommand(ctx: CliContext) {
  return new Command('why')
    .description('explain a task: why it is still pending (no node fits), or where it stands')
    .argument('<task>', 'the task id (web.1.x7k2p)')
    .addHelpText('after', '\nExample:\n  berth why web.3.q9m1z\n  web.3.q9m1z: pending: 3 nodes: insufficient memory (needs 64Mi); 1 node: drained')
    .action(async (id) => {
      ctx.out(explainTask(await ctx.client().getTask(id)));
    });
}

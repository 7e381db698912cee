import { Command } from '@commander-js/extra-typings';
import type { CliContext } from '../context';
import { parseKind } from '../input/args';
import { describeNode, describeService, describeTask } from '../output/describe';

export function describeCommand(ctx: CliContext) {
  return new Command('describe')
    .description('show one service, task or node in detail: every setting (defaults included) and its status')
    .argument('<kind>', 'service (svc), task or node (no)')
    .argument('<name>', 'the service or node name, or the task id')
    .addHelpText('after', '\nExamples:\n  berth describe service web\n  berth describe task web.1.x7k2p')
    .action(async (kindArg, name) => {
      const kind = parseKind(kindArg);
      const client = ctx.client();
      if (kind === 'services') {
        const service = await client.getService(name);
        ctx.out(describeService(service, await client.listTasks(name), ctx.now()));
      } else if (kind === 'tasks') {
        ctx.out(describeTask(await client.getTask(name), ctx.now()));
      } else {
        const node = await client.getNode(name);
        const onNode = (await client.listTasks()).filter((t) => (t.status.node ?? t.spec.node) === name);
        ctx.out(describeNode(node, onNode, ctx.now()));
      }
    });
}

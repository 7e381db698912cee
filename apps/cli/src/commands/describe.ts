import { Command } from '@commander-js/extra-typings';
import type { ClusterEvent } from '@berth/core';
import type { CliContext } from '../context';
import { parseKind } from '../input/args';
import { describeNode, describeService, describeTask } from '../output/describe';
import { eventSection } from '../output/events';
import type { BerthClient, EventsQuery } from '../client/http-client';
import { describeFailure } from '../output/failure';

export function describeCommand(ctx: CliContext) {
  return new Command('describe')
    .description('show one service, task or node in detail: every setting (defaults included), its status and (service, node) its last 10 events')
    .argument('<kind>', 'service (svc), task or node (no)')
    .argument('<name>', 'the service or node name, or the task id')
    .addHelpText('after', '\nExamples:\n  berth describe service web\n  berth describe task web.1.x7k2p')
    .action(async (kindArg, name) => {
      const kind = parseKind(kindArg);
      const client = ctx.client();
      if (kind === 'services') {
        const service = await client.getService(name);
        const [tasks, events] = await Promise.all([client.listTasks(name), recentEvents(client, { service: name })]);
        ctx.out([describeService(service, tasks, ctx.now()), ...eventSection(events, ctx.now())].join('\n'));
      } else if (kind === 'tasks') {
        ctx.out(describeTask(await client.getTask(name), ctx.now()));
      } else {
        const node = await client.getNode(name);
        const [tasks, events] = await Promise.all([client.listTasks(), recentEvents(client, { node: name })]);
        const onNode = tasks.filter((t) => (t.status.node ?? t.spec.node) === name);
        ctx.out([describeNode(node, onNode, ctx.now()), ...eventSection(events, ctx.now())].join('\n'));
      }
    });
}

/** The events of the service or node (the section shows the last ten); a failure becomes a line, not an error. */
async function recentEvents(client: BerthClient, query: EventsQuery): Promise<readonly ClusterEvent[] | string> {
  try {
    return await client.listEvents(query);
  } catch (e) {
    return describeFailure(e).lines.join(' ').replace(/^error: /, '');
  }
}

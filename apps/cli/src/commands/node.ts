import { Command } from '@commander-js/extra-typings';
import type { NodeAvailability } from '@berth/core';
import type { CliContext } from '../context';

const ACTIONS: readonly { name: string; availability: NodeAvailability; done: string; help: string }[] = [
  { name: 'drain', availability: 'drain', done: 'drained', help: "take it out of service: no tasks are placed on it (Swarm's drain)" },
  { name: 'pause', availability: 'pause', done: 'paused', help: 'keep its tasks but place no new ones on it' },
  { name: 'activate', availability: 'active', done: 'activated', help: 'let the scheduler place tasks on it again' },
];

export function nodeCommand(ctx: CliContext) {
  const node = new Command('node')
    .description("change a node's availability for tasks (drain, pause, activate)")
    .addHelpText('after', '\nExamples:\n  berth node drain n1\n  berth node activate n1');
  for (const action of ACTIONS) {
    node.addCommand(
      new Command(action.name)
        .description(action.help)
        .argument('<name>', 'the node')
        .action(async (name) => {
          await ctx.client().setNodeAvailability(name, action.availability);
          ctx.out(`node/${name} ${action.done}`);
        }),
    );
  }
  return node;
}

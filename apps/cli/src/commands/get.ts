import { Command, Option } from '@commander-js/extra-typings';
import type { CliContext } from '../context';
import { UsageError } from '../errors';
import { OUTPUT_FORMATS, parseKind, type OutputFormat, type ResourceKind } from '../input/args';
import { nodeLayout, renderList, serviceLayout, taskLayout, type ListLayout } from '../output/lists';
import { serialize } from '../output/serialize';

export function getCommand(ctx: CliContext) {
  return new Command('get')
    .description('list services, tasks or nodes, or show one by name')
    .argument('<kind>', 'services (svc, service), tasks (task) or nodes (node, no)')
    .argument('[name]', 'show only this one (a task is named by its id)')
    .addOption(new Option('-o, --output <format>', 'output format').choices(OUTPUT_FORMATS).default('table' as OutputFormat))
    .option('--service <name>', 'tasks: only those of this service')
    .addHelpText(
      'after',
      `
Formats: table (default), wide (more columns), json and yaml (the API's objects; lists as arrays).

Examples:
  berth get services
  berth get svc web -o json
  berth get tasks --service web -o wide`,
    )
    .action(async (kindArg, name, opts) => {
      const kind = parseKind(kindArg);
      if (opts.service !== undefined && (kind !== 'tasks' || name !== undefined)) {
        throw new UsageError('--service only filters a list of tasks (berth get tasks --service NAME)');
      }
      const client = ctx.client();
      const format = opts.output;
      if (kind === 'services') {
        show(ctx, kind, serviceLayout, name === undefined ? await client.listServices() : await client.getService(name), format);
      } else if (kind === 'tasks') {
        show(ctx, kind, taskLayout, name === undefined ? await client.listTasks(opts.service) : await client.getTask(name), format);
      } else {
        show(ctx, kind, nodeLayout, name === undefined ? await client.listNodes() : await client.getNode(name), format);
      }
    });
}

/** Prints one object (a NAME was given) or a list, in the chosen format. */
function show<T extends object>(ctx: CliContext, kind: ResourceKind, layout: ListLayout<T>, found: T | T[], format: OutputFormat): void {
  if (format === 'json' || format === 'yaml') {
    ctx.out(serialize(found, format));
    return;
  }
  const items = Array.isArray(found) ? found : [found];
  if (items.length === 0) ctx.err(`No ${kind} found.`);
  else ctx.out(renderList(layout, items, { wide: format === 'wide', now: ctx.now() }));
}

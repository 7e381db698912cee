import { Command } from '@commander-js/extra-typings';
import type { CliContext } from '../context';
import { ApiError, UsageError } from '../errors';
import { parseKind } from '../input/args';
import { collect, readValidManifests } from './manifests';

export function deleteCommand(ctx: CliContext) {
  return new Command('delete')
    .description('delete services by name, or every service named in manifests')
    .argument('[kind]', 'service (svc)')
    .argument('[name]', 'the service to delete')
    .option('-f, --filename <path>', 'delete the services named in these manifests (file, directory or -; repeatable)', collect)
    .option('--ignore-not-found', 'succeed quietly when a service does not exist')
    .addHelpText('after', '\nExamples:\n  berth delete service web\n  berth delete -f web.yaml --ignore-not-found')
    .action(async (kindArg, name, opts) => {
      const names = await namesToDelete(ctx, kindArg, name, opts.filename);
      const client = ctx.client();
      // A missing service does not stop the others from being deleted (kubectl's behaviour).
      for (const service of names) {
        try {
          await client.deleteService(service);
          ctx.out(`service/${service} deleted`);
        } catch (e) {
          if (!(e instanceof ApiError && e.code === 'NOT_FOUND')) throw e;
          if (opts.ignoreNotFound) continue;
          ctx.err(`error: ${e.message}`);
          ctx.setExitCode(1);
        }
      }
    });
}

async function namesToDelete(
  ctx: CliContext,
  kindArg: string | undefined,
  name: string | undefined,
  files: string[] | undefined,
): Promise<string[]> {
  if (files !== undefined) {
    if (kindArg !== undefined) throw new UsageError('give either -f FILE or "service NAME", not both');
    // Validated like apply: a manifest that would not apply names nothing reliably.
    const { drafts } = await readValidManifests(ctx, files);
    return drafts.map((d) => d.name);
  }
  if (kindArg === undefined || name === undefined) {
    throw new UsageError('say what to delete: berth delete service NAME, or berth delete -f FILE');
  }
  if (parseKind(kindArg) !== 'services') throw new UsageError(`only services can be deleted (got "${kindArg}")`);
  return [name];
}

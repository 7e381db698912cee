import { Command } from '@commander-js/extra-typings';
import type { CliContext } from '../context';
import { parseHostPort } from '../input/args';
import { DEFAULT_API, DEFAULT_GRPC, defaultDataDir, serveInForeground } from './serve';

export function upCommand(ctx: CliContext) {
  return new Command('up')
    .description('run a one-node cluster in the foreground (currently: control plane + embedded etcd, no agent yet)')
    .option('--data-dir <dir>', `state directory (default: ${defaultDataDir(ctx.env, 'up')})`)
    .option('--api <host:port>', 'listen address of the HTTP API (default: 127.0.0.1:7070)', (v) => parseHostPort(v, '--api'))
    .option('--grpc <host:port>', 'listen address for node agents (default: 127.0.0.1:7071)', (v) => parseHostPort(v, '--grpc'))
    .addHelpText(
      'after',
      `
For now "berth up" is "berth server" with an embedded etcd: the node agent does not join yet, so
services are stored and their status is tracked, but no task runs yet. The API URL is written to
~/.berth/config.json. SIGINT/SIGTERM stop it cleanly; a second signal exits at once.`,
    )
    .action(async (opts) => {
      await serveInForeground(ctx, {
        dataDir: opts.dataDir ?? defaultDataDir(ctx.env, 'up'),
        api: opts.api ?? DEFAULT_API,
        grpc: opts.grpc ?? DEFAULT_GRPC,
      });
    });
}

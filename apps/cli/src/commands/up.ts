import { join } from 'node:path';
import { Command } from '@commander-js/extra-typings';
import type { CliContext } from '../context';
import { NotRootError } from '../errors';
import { collectRegistry, nodeNameFromHost } from '../input/agent-args';
import { parseHostPort } from '../input/args';
import { AGENT_NEEDS_ROOT, launchAgent } from './agent';
import { DEFAULT_API, DEFAULT_GRPC, defaultDataDir, localDialAddress, serveInForeground, NODE_DOWN_AFTER_HELP, parseNodeDownAfter } from './serve';

export function upCommand(ctx: CliContext) {
  const node = nodeNameFromHost(ctx.env.hostname);
  return new Command('up')
    .description('run a one-node cluster in the foreground: control plane, embedded etcd and a node agent')
    .option('--data-dir <dir>', `state directory (default: ${defaultDataDir(ctx.env, 'up')})`)
    .option('--api <host:port>', 'listen address of the HTTP API (default: 127.0.0.1:7070)', (v) => parseHostPort(v, '--api'))
    .option('--grpc <host:port>', 'listen address for node agents (default: 127.0.0.1:7071)', (v) => parseHostPort(v, '--grpc'))
    .option('--node-down-after <duration>', NODE_DOWN_AFTER_HELP, parseNodeDownAfter)
    .option(
      '--insecure-registry <host:port>',
      'the control plane (pinning digests at apply) and the agent (pulling) reach this registry over plain HTTP (repeatable; loopback registries always are)',
      collectRegistry,
    )
    .addHelpText(
      'after',
      `
Runs everything in one process: etcd (DATA-DIR/server/etcd), the control plane (DATA-DIR/server)
and a node agent named "${node}" after this host (DATA-DIR/agent) that dials the control plane,
so applied services start running right away. More agents can join with "berth agent --server".
Must run as root (the agent runs containers). The API URL is written to ~/.berth/config.json.
Ctrl-C (or SIGTERM) stops the agent first, leaving its containers running (they are adopted
again by the next "berth up"), then the control plane; a second signal exits at once.`,
    )
    .action(async (opts) => {
      if (!ctx.env.isRoot) throw new NotRootError('up', `${AGENT_NEEDS_ROOT}; "berth server" runs the control plane alone`);
      const dataDir = opts.dataDir ?? defaultDataDir(ctx.env, 'up');
      await serveInForeground(ctx, {
        dataDir: join(dataDir, 'server'),
        api: opts.api ?? DEFAULT_API,
        grpc: opts.grpc ?? DEFAULT_GRPC,
        ...(opts.nodeDownAfter !== undefined ? { nodeDownAfterMs: opts.nodeDownAfter } : {}),
        ...(opts.insecureRegistry ? { insecureRegistries: opts.insecureRegistry } : {}),
        attach: async (running) => {
          const agent = await launchAgent(ctx, {
            server: localDialAddress(running.grpcAddress),
            name: node,
            dataDir: join(dataDir, 'agent'),
            labels: {},
            insecureRegistries: opts.insecureRegistry ?? [],
          });
          agent.done.catch((e: unknown) => ctx.err(`berth: the agent stopped: ${e instanceof Error ? e.message : String(e)}`));
          return {
            stop: async () => {
              ctx.err('berth: stopping the agent (its containers keep running), then the control plane');
              await agent.stop();
            },
          };
        },
      });
    });
}

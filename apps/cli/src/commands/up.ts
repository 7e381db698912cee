import { join } from 'node:path';
import { Command } from '@commander-js/extra-typings';
import type { AgentOptions, MetricsListenError, RunningAgent } from '@berth/agent';
import type { CliContext } from '../context';
import { NotRootError } from '../errors';
import { collectRegistry, nodeNameFromHost } from '../input/agent-args';
import { formatHostPort, parseHostPort, type HostPort } from '../input/args';
import { AGENT_NEEDS_ROOT, launchAgent } from './agent';
import { ADVERTISE_HELP, collectAdvertise, DEFAULT_API, DEFAULT_GRPC, defaultDataDir, localDialAddress, serveInForeground, NODE_DOWN_AFTER_HELP, parseNodeDownAfter } from './serve';

/** Where `berth up`'s agent serves its metrics: loopback, like the API; a free port when this one is taken. */
export const UP_AGENT_METRICS: HostPort = { host: '127.0.0.1', port: 9101 };

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
    .option('--advertise <name|ip>', ADVERTISE_HELP, collectAdvertise)
    .addHelpText(
      'after',
      `
Runs everything in one process: etcd (DATA-DIR/server/etcd), the control plane (DATA-DIR/server;
its API over HTTPS, DATA-DIR/admin.yaml holding its URL, the cluster CA and an admin token)
and a node agent named "${node}" after this host (DATA-DIR/agent) that dials the control plane,
so applied services start running right away. The agent joins like any other, with mutual TLS
(its certificate in DATA-DIR/agent/pki, renewed by itself); more agents join with a token:
berth token create --role join, then berth agent --server … --token ….
Agent metrics: http://${formatHostPort(UP_AGENT_METRICS)}/metrics, or a free port when ${UP_AGENT_METRICS.port} is taken.
Must run as root (the agent runs containers). The same server, CA and token go to ~/.berth/config
(or --config/BERTH_CONFIG), so berth commands on this machine just work.
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
        ...(opts.advertise ? { advertise: opts.advertise } : {}),
        adminConfigFile: join(dataDir, 'admin.yaml'),
        attach: async (running) => {
          const agent = await launchUpAgent(ctx, {
            server: localDialAddress(running.grpcAddress),
            // Asked for only when the agent has no certificate yet (the first start); short-lived.
            token: async () => (await running.createToken({ role: 'join', ttlSeconds: 600, description: `berth up: node ${node}` })).token,
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

/** Launches the agent with its metrics on UP_AGENT_METRICS, or on a free port when another process holds that one. */
async function launchUpAgent(ctx: CliContext, opts: Omit<AgentOptions, 'log' | 'drivers' | 'metrics'>): Promise<RunningAgent> {
  try {
    return await launchAgent(ctx, { ...opts, metrics: UP_AGENT_METRICS });
  } catch (e) {
    if (!metricsAddressInUse(e)) throw e;
    ctx.err(`berth: ${formatHostPort(UP_AGENT_METRICS)} is in use; the agent serves its metrics on a free port instead`);
    return launchAgent(ctx, { ...opts, metrics: { ...UP_AGENT_METRICS, port: 0 } });
  }
}

/** Recognised by name and shape: importing the class would load the agent module for every command. */
function metricsAddressInUse(e: unknown): boolean {
  return e instanceof Error && e.name === 'MetricsListenError' && (e as MetricsListenError).addressInUse;
}

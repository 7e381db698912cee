import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Command } from '@commander-js/extra-typings';
import type { AgentOptions, RunningAgent } from '@berth/agent';
import type { CliContext } from '../context';
import type { CliEnvironment } from '../environment';
import { NotRootError, UsageError } from '../errors';
import {
  collectLabel,
  collectRegistry,
  nodeNameFromHost,
  parseAddress,
  parseAgentServer,
  parseBridge,
  parseJoinToken,
  parseNodeName,
  parseSubnet,
  parseUsernsBase,
} from '../input/agent-args';
import { formatHostPort, parseHostPort, type HostPort } from '../input/args';
import { firstSignal } from './serve';

/** Why the agent needs root, for the refusal message. */
export const AGENT_NEEDS_ROOT = 'it runs containers with runc and sets up mounts, network namespaces and cgroups';

/** Where `berth agent` serves Prometheus metrics unless told otherwise. */
export const DEFAULT_AGENT_METRICS: HostPort = { host: '0.0.0.0', port: 9101 };

/** Where the join token is read from when `--token` is absent (an environment variable stays out of `ps`). */
export const JOIN_TOKEN_ENV = 'BERTH_JOIN_TOKEN';

/** `/var/lib/berth/agent` as root, else `~/.local/share/berth/agent`. */
export function defaultAgentDataDir(env: CliEnvironment): string {
  return env.isRoot ? '/var/lib/berth/agent' : join(env.home, '.local', 'share', 'berth', 'agent');
}

export function agentCommand(ctx: CliContext) {
  return new Command('agent')
    .description('run a node agent in the foreground: it connects to the control plane and runs the tasks placed on this node')
    .option('--name <node>', `this node's name (default: the host name as a DNS label: ${nodeNameFromHost(ctx.env.hostname)})`, parseNodeName)
    .option('--data-dir <dir>', `state directory (default: ${defaultAgentDataDir(ctx.env)})`)
    .option(
      '--token <token>',
      `join token (berth token create --role join on the control plane), needed only for the first start of a node: the agent keeps its certificate in <data dir>/pki (default: $${JOIN_TOKEN_ENV}, which keeps it out of ps)`,
      (v) => parseJoinToken(v),
    )
    .option('--label <key=value>', 'a node label for placement constraints (repeatable)', collectLabel)
    .option('--insecure-registry <host:port>', 'pull images from this registry over plain HTTP (repeatable; loopback registries always are)', collectRegistry)
    .option('--address <ip>', 'the address this node announces (default: the address of its default route)', parseAddress)
    .option('--bridge <name>', 'the bridge tasks attach to (default: berth0); each agent on one machine needs its own', parseBridge)
    .option('--subnet <cidr>', 'the task subnet of this node (default: 10.211.0.0/16); each agent on one machine needs its own', parseSubnet)
    .option(
      '--metrics <host:port>',
      `serve Prometheus metrics (GET /metrics) on this address (default: ${formatHostPort(DEFAULT_AGENT_METRICS)}); each agent on one machine needs its own port`,
      (v) => parseHostPort(v, '--metrics'),
    )
    .option('--no-metrics', 'serve no metrics endpoint')
    .option(
      '--userns-base <id>',
      "first host uid/gid of the range tasks with securityContext.userNamespace map their ids 0-65535 to (default: 0x70000000, clear of /etc/subuid's and systemd's ranges)",
      parseUsernsBase,
    )
    .option('--no-vms', 'serve containers only, even where qemu-system-x86_64 is installed (default: runtime vm tasks run as QEMU microVMs when it is)')
    .addHelpText(
      'after',
      `
--server HOST:PORT (required): the control plane's agent (gRPC) address, e.g. 10.0.0.1:7071.
Here the global -s/--server option names that address, not the API URL; BERTH_SERVER and
~/.berth/config are not used.
A new node joins the cluster with --token, or ${JOIN_TOKEN_ENV} when --token is absent (set in the
environment, e.g. by a systemd EnvironmentFile, it stays out of ps); the agent then keeps its certificate
in <data dir>/pki, renews it by itself and needs no token on later starts. It talks to the control
plane only over mutual TLS with that certificate.
Must run as root. SIGINT/SIGTERM stop the agent but leave its containers and VMs running: the
next agent started with the same data dir and name adopts them again. A second signal exits at once.
With QEMU installed the node also serves runtime vm tasks; whether they run under KVM or TCG is
probed in the background after start (berth get nodes -o wide: DRIVERS runc, qemu (tcg)).

Examples:
  sudo berth agent --server 10.0.0.1:7071 --name n1 --label zone=a
  sudo berth agent --server 10.0.0.1:7071 --token BERTHJ1-… --name n2
  sudo --preserve-env=BERTH_JOIN_TOKEN berth agent --server 10.0.0.1:7071 --name n3
  sudo berth agent --server 127.0.0.1:7071 --insecure-registry 127.0.0.1:5000
  sudo berth agent --server 10.0.0.1:7071 --metrics 10.0.0.5:9101`,
    )
    .action(async (opts) => {
      const server = ctx.serverFlag();
      if (server === undefined) throw new UsageError("berth agent needs --server HOST:PORT: the control plane's agent address, e.g. 10.0.0.1:7071");
      const serverAddress = parseAgentServer(server);
      if (!ctx.env.isRoot) throw new NotRootError('agent', AGENT_NEEDS_ROOT);
      const name = opts.name ?? nodeNameFromHost(ctx.env.hostname);
      const token = opts.token ?? joinTokenFromEnv(ctx.env);
      await runAgentInForeground(ctx, {
        server: serverAddress,
        name,
        dataDir: opts.dataDir ?? defaultAgentDataDir(ctx.env),
        labels: opts.label ?? {},
        insecureRegistries: opts.insecureRegistry ?? [],
        ...(opts.address ? { address: opts.address } : {}),
        ...(opts.bridge ? { bridge: opts.bridge } : {}),
        ...(opts.subnet ? { subnet: opts.subnet } : {}),
        metrics: opts.metrics ?? DEFAULT_AGENT_METRICS,
        vms: opts.vms,
        ...(opts.usernsBase !== undefined ? { userNamespaceBase: opts.usernsBase } : {}),
        ...(token !== undefined ? { token } : {}),
      });
    });
}

/** `BERTH_JOIN_TOKEN` (read into CliEnvironment), checked only when `--token` is absent. */
function joinTokenFromEnv(env: CliEnvironment): string | undefined {
  const value = env.joinTokenFromEnv;
  return value ? parseJoinToken(value, JOIN_TOKEN_ENV) : undefined;
}

/**
 * Starts a node agent whose log lines go to stderr. `stop()` leaves its containers running
 * (they are re-adopted on the next start). Always with the agent's real drivers (runc, qemu): the
 * hollow driver is for tests and benchmarks, never offered to operators.
 */
export async function launchAgent(ctx: CliContext, opts: Omit<AgentOptions, 'log' | 'drivers'>): Promise<RunningAgent> {
  await mkdir(opts.dataDir, { recursive: true, mode: 0o700 });
  // Loaded only here: the runtime (runc, CNI, images) would slow every other command.
  const { startAgent } = await import('@berth/agent');
  const agent: RunningAgent = await startAgent({ ...opts, log: (line) => ctx.err(`berth agent: ${line}`) });
  ctx.err(`berth: agent ${opts.name} started (data in ${opts.dataDir}), dialing ${opts.server}`);
  if (agent.metricsAddress) ctx.err(`berth: agent metrics on http://${agent.metricsAddress}/metrics`);
  return agent;
}

/** Runs the agent until SIGINT/SIGTERM, then stops it; an agent that ends by itself ends the command. */
async function runAgentInForeground(ctx: CliContext, opts: Omit<AgentOptions, 'log' | 'drivers'>): Promise<void> {
  const stopRequested = firstSignal(ctx);
  const agent = await launchAgent(ctx, opts);
  ctx.err('berth: press Ctrl-C to stop the agent (its containers keep running)');
  let signal: NodeJS.Signals | undefined;
  try {
    signal = await Promise.race([stopRequested, agent.done.then(() => undefined)]);
  } catch (e) {
    await agent.stop().catch(() => undefined); // one loop failed: end the other before reporting
    throw e;
  }
  if (signal === undefined) return;
  ctx.err(`berth: ${signal} received, stopping the agent; containers keep running`);
  await agent.stop();
}

import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { dirname, join } from 'node:path';
import type { RunningControlPlane } from '@berth/control-plane';
import { parseDuration } from '@berth/core';
import type { CliContext } from '../context';
import { UsageError } from '../errors';
import { formatAccessConfig } from '@berth/api';
import type { CliEnvironment } from '../environment';
import type { HostPort } from '../input/args';

export const DEFAULT_API: HostPort = { host: '127.0.0.1', port: 7070 };
export const DEFAULT_GRPC: HostPort = { host: '127.0.0.1', port: 7071 };

export interface ServeOptions {
  readonly dataDir: string;
  readonly api: HostPort;
  readonly grpc: HostPort;
  /** Absent: the control plane starts an embedded etcd in the data dir. */
  readonly etcdEndpoints?: string[];
  /** `--etcd-max-txn-ops`: the external etcd's limit, which sizes berth's task transactions. */
  readonly etcdMaxTxnOps?: number;
  /** `--etcd-ca`, `--etcd-cert`, `--etcd-key`: PEM files for mutual TLS to the external etcd. */
  readonly etcdTlsFiles?: { readonly ca: string; readonly cert: string; readonly key: string };
  /** `--node-down-after`: absent → the control plane's default (5 s). */
  readonly nodeDownAfterMs?: number;
  /** `--insecure-registry`: registries apply reaches over plain HTTP to pin image digests. */
  readonly insecureRegistries?: readonly string[];
  /** `--advertise`: more names and addresses the control plane's certificate is valid for. */
  readonly advertise?: readonly string[];
  /** `--node-cert-lifetime`: how long node certificates last (default 90 days). */
  readonly nodeCertificateLifetimeMs?: number;
  /** Where admin.yaml goes (default: the control plane's data dir; `berth up`: its own --data-dir). */
  readonly adminConfigFile?: string;
  /**
   * Started once the control plane listens (`berth up`'s agent); stopped before the control
   * plane, so the agent never loses its server while it shuts down.
   */
  readonly attach?: (running: RunningControlPlane) => Promise<{ stop(): Promise<void> }>;
}

/** `/var/lib/berth[/sub]` as root, else `~/.local/share/berth[/sub]` (XDG's data home). */
export function defaultDataDir(env: CliEnvironment, sub?: string): string {
  const base = env.isRoot ? '/var/lib/berth' : join(env.home, '.local', 'share', 'berth');
  return sub ? join(base, sub) : base;
}

/** What the server prints once it listens: one line per listener (an embedded etcd's with the client certificate it wants). */
export function listenerLines(running: Pick<RunningControlPlane, 'apiUrl' | 'grpcAddress' | 'etcdEndpoints' | 'etcdClientFiles' | 'caFile' | 'caFingerprint' | 'adminConfigFile'>): string[] {
  const client = running.etcdClientFiles;
  return [
    `berth: API on ${running.apiUrl} (HTTPS, tokens; an admin's: BERTH_CONFIG=${running.adminConfigFile})`,
    `berth: agents on ${running.grpcAddress} (mutual TLS; nodes join with a token: berth token create --role join)`,
    `berth: cluster CA ${running.caFile} (sha256 ${running.caFingerprint})`,
    client
      ? `berth: etcd embedded at ${running.etcdEndpoints.join(',')} (mutual TLS: --cacert ${client.caFile} --cert ${client.certFile} --key ${client.keyFile})`
      : `berth: etcd at ${running.etcdEndpoints.join(',')}`,
  ];
}

/** The PEM text of `--etcd-ca/--etcd-cert/--etcd-key`; a UsageError naming the flag when a file cannot be read. */
export async function readEtcdTls(files: { readonly ca: string; readonly cert: string; readonly key: string }): Promise<{ ca: string; cert: string; key: string }> {
  const read = (path: string, flag: string) =>
    readFile(path, 'utf8').catch((e: NodeJS.ErrnoException) => {
      throw new UsageError(`${flag} ${path}: cannot be read (${e.code ?? e.message})`);
    });
  return { ca: await read(files.ca, '--etcd-ca'), cert: await read(files.cert, '--etcd-cert'), key: await read(files.key, '--etcd-key') };
}

/** The address an agent on this machine dials: a wildcard listen address is reached via loopback. */
export function localDialAddress(listen: string): string {
  if (listen.startsWith('0.0.0.0:')) return `127.0.0.1:${listen.slice('0.0.0.0:'.length)}`;
  if (listen.startsWith('[::]:')) return `[::1]:${listen.slice('[::]:'.length)}`;
  return listen;
}

/** The URL clients on this machine should use: a wildcard listen address is reached via loopback. */
export function clientServerUrl(apiUrl: string): string {
  const url = new URL(apiUrl);
  if (url.hostname === '0.0.0.0') url.hostname = '127.0.0.1';
  if (url.hostname === '[::]') url.hostname = '[::1]';
  return url.toString().replace(/\/+$/, '');
}

/**
 * Runs the control plane in the foreground until SIGINT or SIGTERM, then stops it (HTTP, loops,
 * embedded etcd) and resolves. A second signal exits at once. Writes the client config file
 * (`--config`, BERTH_CONFIG or ~/.berth/config: server, cluster CA, admin token) so later commands
 * on this machine find and may use the server.
 */
export async function serveInForeground(ctx: CliContext, opts: ServeOptions): Promise<void> {
  const stopRequested = firstSignal(ctx);
  await mkdir(opts.dataDir, { recursive: true, mode: 0o700 });
  // Loaded only here: the control plane (NestJS, etcd client) would slow every other command.
  const { startControlPlane } = await import('@berth/control-plane');
  const running = await startControlPlane({
    dataDir: opts.dataDir,
    api: opts.api,
    grpc: opts.grpc,
    ...(opts.etcdEndpoints ? { etcdEndpoints: opts.etcdEndpoints } : {}),
    ...(opts.etcdMaxTxnOps !== undefined ? { etcdMaxTxnOps: opts.etcdMaxTxnOps } : {}),
    ...(opts.etcdTlsFiles ? { etcdTls: await readEtcdTls(opts.etcdTlsFiles) } : {}),
    ...(opts.nodeDownAfterMs !== undefined ? { nodeDownAfterMs: opts.nodeDownAfterMs } : {}),
    ...(opts.insecureRegistries?.length ? { insecureRegistries: [...opts.insecureRegistries] } : {}),
    ...(opts.advertise?.length ? { advertise: [...opts.advertise] } : {}),
    ...(opts.nodeCertificateLifetimeMs !== undefined ? { nodeCertificateLifetimeMs: opts.nodeCertificateLifetimeMs } : {}),
    ...(opts.adminConfigFile !== undefined ? { adminConfigFile: opts.adminConfigFile } : {}),
  });
  let attached: { stop(): Promise<void> } | undefined;
  try {
    for (const line of listenerLines(running)) ctx.err(line);
    attached = await opts.attach?.(running);
    // The config file is a convenience for later commands; a read-only home must not stop a server.
    const configFile = ctx.configFile();
    const { server, ca, token } = running.admin;
    const wrote = await writeClientConfig(configFile, { server: clientServerUrl(server), ca, token }).then(
      () => `wrote ${configFile}`,
      (e: Error) => `warning: could not write ${configFile} (${e.message}); clients need --config ${running.adminConfigFile} or BERTH_CONFIG=${running.adminConfigFile}`,
    );
    ctx.err(`berth: ${wrote}; press Ctrl-C to stop`);
    const signal = await stopRequested;
    ctx.err(`berth: ${signal} received, stopping`);
  } finally {
    try {
      await attached?.stop();
    } finally {
      await running.stop();
    }
  }
}

/** Resolves on the first SIGINT/SIGTERM; a second one exits the process at once. */
export function firstSignal(ctx: CliContext): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    let received = false;
    const onSignal = (signal: NodeJS.Signals) => {
      if (received) {
        ctx.err(`berth: second ${signal}, exiting without a clean stop`);
        process.exit(signal === 'SIGINT' ? 130 : 143);
      }
      received = true;
      resolve(signal);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}

/** The client config (server, ca, token as YAML), readable by its owner only; replaced atomically. */
async function writeClientConfig(path: string, config: { server: string; ca: string; token: string }): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, formatAccessConfig(config), { mode: 0o600 });
  await rename(tmp, path);
}

/** `--node-down-after DURATION` of `berth server` and `berth up` (2s..5m). */
export function parseNodeDownAfter(value: string): number {
  const parsed = parseDuration(value);
  if (!parsed.ok) throw new UsageError(`--node-down-after: ${parsed.reason}`);
  if (parsed.value < 2_000 || parsed.value > 300_000) throw new UsageError(`--node-down-after must be between 2s and 5m (got ${value})`);
  return parsed.value;
}

export const NODE_DOWN_AFTER_HELP =
  'declare a node down once its agent has not been heard from for this long, and replace its tasks (default: 5s; 2s..5m)';

/** `--node-cert-lifetime DURATION` of `berth server` (10s..8760h; default 90 days). */
export function parseNodeCertLifetime(value: string): number {
  const parsed = parseDuration(value);
  if (!parsed.ok) throw new UsageError(`--node-cert-lifetime: ${parsed.reason}`);
  if (parsed.value < 10_000 || parsed.value > 365 * 86_400_000) throw new UsageError(`--node-cert-lifetime must be between 10s and 8760h (got ${value})`);
  return parsed.value;
}

/** `--advertise NAME|IP` (repeatable, or comma-separated): more names clients reach the control plane by. */
export function collectAdvertise(value: string, previous: string[] | undefined): string[] {
  const names = value.split(',').map((v) => v.trim());
  for (const name of names) {
    if (isIP(name) === 0 && !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/i.test(name)) {
      throw new UsageError(`--advertise: "${name}" is neither a DNS name nor an IP address`);
    }
  }
  return [...(previous ?? []), ...names];
}

export const ADVERTISE_HELP = 'another name or address clients and agents reach this control plane by; its certificate is valid for it too (repeatable)';

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, openSync, closeSync, readFileSync } from 'node:fs';
import { get } from 'node:https';
import { delimiter, join } from 'node:path';
import { DomainError } from '@berth/core';
import { loadOrCreateCa, readCertificateFiles, writeLeaf, type CertificateFiles } from '@berth/pki';
import { loadAndChoosePorts, type EtcdPorts } from './embedded-ports';
import type { EtcdTls } from './etcd-client';
import { EMBEDDED_MAX_REQUEST_BYTES, EMBEDDED_MAX_TXN_OPS } from './limits';

export class EtcdBinaryNotFoundError extends DomainError {
  readonly code = 'UNAVAILABLE';
  constructor() {
    super('etcd not found: install the Debian package "etcd-server" (npm run up installs it)');
  }
}

export interface EmbeddedEtcdOptions {
  /** etcd keeps its data in `<dataDir>/etcd`, its log in `<dataDir>/etcd.log`, its ports in `<dataDir>/etcd-ports.json`. */
  readonly dataDir: string;
  /** Supervision messages (exits, restarts); etcd's own output goes to etcd.log. */
  readonly log?: (line: string) => void;
  /** How long start() waits for etcd to answer; default 30 s. */
  readonly startTimeoutMs?: number;
}

/** An embedded etcd's certificate lifetime: they are issued anew at every start. */
const CERTIFICATE_LIFETIME_MS = 365 * 86_400_000;

const STOP_GRACE_MS = 10_000;
const MAX_RESTARTS = 5;
/** A run this long resets the restart budget. */
const STABLE_MS = 60_000;

/**
 * etcd's command line for one single-member cluster on loopback. Pure. Client and peer ports
 * speak TLS only and take only clients with a certificate of the given CA (loopback is still
 * shared with every local user, and with tasks that reach the host).
 */
export function etcdArgs(dataDir: string, ports: EtcdPorts, tls: CertificateFiles): string[] {
  const client = `https://127.0.0.1:${ports.client}`;
  const peer = `https://127.0.0.1:${ports.peer}`;
  return [
    '--name', 'berth',
    '--data-dir', join(dataDir, 'etcd'),
    '--listen-client-urls', client,
    '--advertise-client-urls', client,
    '--listen-peer-urls', peer,
    '--initial-advertise-peer-urls', peer,
    '--initial-cluster', `berth=${peer}`,
    '--initial-cluster-state', 'new',
    '--cert-file', tls.certFile,
    '--key-file', tls.keyFile,
    '--trusted-ca-file', tls.caFile,
    '--client-cert-auth',
    '--peer-cert-file', tls.certFile,
    '--peer-key-file', tls.keyFile,
    '--peer-trusted-ca-file', tls.caFile,
    '--peer-client-cert-auth',
    '--auto-compaction-mode', 'periodic',
    '--auto-compaction-retention', '1h',
    // One apply is one txn: a 4 MiB manifest of many services must fit.
    '--max-txn-ops', String(EMBEDDED_MAX_TXN_OPS),
    '--max-request-bytes', String(EMBEDDED_MAX_REQUEST_BYTES),
    '--quota-backend-bytes', String(2 * 1024 ** 3),
    '--logger', 'zap',
    '--log-outputs', 'stderr',
  ];
}

/** Where etcd is looked for: PATH, then the Debian package's location. */
export function etcdSearchDirs(path = process.env.PATH ?? ''): string[] {
  return [...path.split(delimiter).filter(Boolean), '/usr/bin'];
}

/** Absolute path of the first etcd binary in `dirs`, if any. */
export function findEtcd(dirs: readonly string[] = etcdSearchDirs()): string | undefined {
  return dirs.map((d) => join(d, 'etcd')).find((p) => existsSync(p));
}

/**
 * The distribution's etcd as a supervised child process (used by `berth up`/`berth server`
 * without --etcd). The child gets SIGKILL when this process dies (via `setpriv --pdeathsig`, and
 * a process 'exit' hook); a graceful shutdown should still call `stop()` from the caller's
 * SIGINT/SIGTERM handlers so etcd can close its database cleanly. If etcd dies on its own it is
 * restarted with backoff (up to 5 times in a row; a run of a minute resets the count).
 *
 * It speaks mutual TLS only: at every start it gets a certificate for 127.0.0.1 and a client
 * certificate (`clientTls`, for whoever uses it from this host) from the cluster CA kept in
 * `<dataDir>/pki` (created on first start; see loadOrCreateCa).
 */
export class EmbeddedEtcd {
  readonly endpoints: string[];
  private child: ChildProcess | undefined;
  private stopping = false;
  private restarts = 0;
  private restartTimer: NodeJS.Timeout | undefined;
  private readonly killOnExit = () => this.child?.kill('SIGKILL');

  private constructor(
    private readonly binary: string,
    private readonly opts: EmbeddedEtcdOptions,
    private readonly ports: EtcdPorts,
    private readonly serverFiles: CertificateFiles,
    /** The client certificate's files: what `etcdctl --cacert/--cert/--key` takes. */
    readonly clientFiles: CertificateFiles,
    /** The same, as PEM text: what createEtcdClient takes. */
    readonly clientTls: EtcdTls,
  ) {
    this.endpoints = [`https://127.0.0.1:${ports.client}`];
  }

  static async start(opts: EmbeddedEtcdOptions): Promise<EmbeddedEtcd> {
    const binary = findEtcd();
    if (!binary) throw new EtcdBinaryNotFoundError();
    mkdirSync(opts.dataDir, { recursive: true });
    const pki = join(opts.dataDir, 'pki');
    const ca = await loadOrCreateCa(pki);
    const lifetimeMs = CERTIFICATE_LIFETIME_MS;
    // Its peer port takes the same certificate, as client and server of itself.
    const serverFiles = await writeLeaf(pki, 'etcd', ca, { commonName: 'etcd', uses: ['server', 'client'], dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'], lifetimeMs });
    const clientFiles = await writeLeaf(pki, 'etcd-client', ca, { commonName: 'control-plane', uses: ['client'], lifetimeMs });
    const etcd = new EmbeddedEtcd(binary, opts, await loadAndChoosePorts(opts.dataDir), serverFiles, clientFiles, await readCertificateFiles(clientFiles));
    process.on('exit', etcd.killOnExit);
    try {
      await etcd.launch();
    } catch (e) {
      await etcd.stop();
      throw e;
    }
    return etcd;
  }

  /** The PID of the current etcd child, while one runs. */
  get pid(): number | undefined {
    return this.child?.exitCode === null ? this.child.pid : undefined;
  }

  /** SIGTERM, then SIGKILL after a grace period; resolves once the child has exited. Idempotent. */
  async stop(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.restartTimer);
    process.off('exit', this.killOnExit);
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
    await exited;
    clearTimeout(timer);
  }

  private async launch(): Promise<void> {
    const child = this.spawnChild();
    const exited = new Promise<never>((_, reject) =>
      child.once('exit', (code, signal) =>
        reject(new Error(`etcd exited during startup (${signal ?? `code ${code}`}); see ${this.logPath}: ${this.logTail()}`)),
      ),
    );
    exited.catch(() => undefined);
    await Promise.race([waitHealthy(this.ports.client, this.clientTls, this.opts.startTimeoutMs ?? 30_000), exited]);
    const startedAt = Date.now();
    child.once('exit', (code, signal) => this.onUnexpectedExit(code, signal, startedAt));
  }

  private spawnChild(): ChildProcess {
    const args = etcdArgs(this.opts.dataDir, this.ports, this.serverFiles);
    const log = openSync(this.logPath, 'a');
    const viaSetpriv = existsSync('/usr/bin/setpriv');
    const [cmd, argv] = viaSetpriv ? ['/usr/bin/setpriv', ['--pdeathsig', 'KILL', this.binary, ...args]] : [this.binary, args];
    try {
      this.child = spawn(cmd, argv, { stdio: ['ignore', log, log] });
    } finally {
      closeSync(log);
    }
    this.child.on('error', (e) => this.opts.log?.(`etcd: ${e.message}`));
    return this.child;
  }

  private onUnexpectedExit(code: number | null, signal: NodeJS.Signals | null, startedAt: number): void {
    if (this.stopping) return;
    if (Date.now() - startedAt >= STABLE_MS) this.restarts = 0;
    if (this.restarts >= MAX_RESTARTS) {
      this.opts.log?.(`etcd exited (${signal ?? `code ${code}`}) ${MAX_RESTARTS} times in a row; giving up (see ${this.logPath})`);
      return;
    }
    const delay = Math.min(30_000, 1000 * 2 ** this.restarts);
    this.restarts++;
    this.opts.log?.(`etcd exited unexpectedly (${signal ?? `code ${code}`}); restarting in ${delay} ms (attempt ${this.restarts})`);
    this.restartTimer = setTimeout(() => {
      if (this.stopping) return;
      this.launch().then(
        () => this.opts.log?.('etcd restarted'),
        (e: Error) => this.onFailedRestart(e),
      );
    }, delay);
  }

  private onFailedRestart(e: Error): void {
    this.opts.log?.(`etcd restart failed: ${e.message}`);
    const child = this.child;
    if (child && child.exitCode === null && child.signalCode === null) {
      // Running but not (yet) healthy: supervise it like any other run.
      child.once('exit', (code, signal) => this.onUnexpectedExit(code, signal, Date.now()));
    } else {
      this.onUnexpectedExit(child?.exitCode ?? null, child?.signalCode ?? null, Date.now());
    }
  }

  private get logPath(): string {
    return join(this.opts.dataDir, 'etcd.log');
  }

  private logTail(): string {
    try {
      return readFileSync(this.logPath, 'utf8').trim().split('\n').slice(-3).join(' | ');
    } catch {
      return '';
    }
  }
}

/** Polls etcd's /health (with the probe's client certificate) until it reports healthy or the timeout passes. */
async function waitHealthy(port: number, credentials: EtcdTls, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await healthy(port, credentials)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`etcd did not become healthy on 127.0.0.1:${port} within ${timeoutMs} ms`);
}

function healthy(port: number, credentials: EtcdTls): Promise<boolean> {
  return new Promise((resolve) => {
    const req = get({ host: '127.0.0.1', port, path: '/health', timeout: 1000, ...credentials }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve(res.statusCode === 200 && /"health":\s*"true"/.test(body)));
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => req.destroy());
  });
}

import { mkdir } from 'node:fs/promises';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { join } from 'node:path';
import type { CertificateFiles } from '@berth/pki';
import { ControlPlaneMembers, createEtcdClient, EmbeddedEtcd, EtcdIdentityStore, EMBEDDED_MAX_TXN_OPS, ETCD_DEFAULT_MAX_TXN_OPS, EtcdStore, keyspace, LeaderElection, type EtcdTls } from '@berth/store';
import { SkopeoImageResolver } from './api/image-resolver';
import { BERTH_VERSION } from './version';
import { type ControlPlaneConfig, type ControlPlaneOptions, formatAddress, ListenError, parseOptions } from './config';
import { Dispatcher } from './dispatcher/dispatcher';
import { createHttpApp } from './http/http-app';
import { type AdminConfig, ensureAdminConfig } from './identity/admin-config';
import { establishClusterCa } from './identity/cluster-ca';
import { ServingCertificate, servingNames } from './identity/serving-certificate';
import { TokenService, type NewTokenRequest, type TokenView } from './identity/tokens.service';
import { ControlPlaneMetrics } from './observability/metrics';

export type { ControlPlaneOptions, ControlPlaneConfig } from './config';
export type { NewTokenRequest, TokenRole, TokenView } from './identity/tokens.service';
export type { AdminConfig } from './identity/admin-config';
export { ListenError, parseOptions } from './config';

/** A started control plane. */
export interface RunningControlPlane {
  /** `https://host:port` the API listens on (the real port when 0 was asked for). */
  readonly apiUrl: string;
  /** What `adminConfigFile` holds: the URL clients on this machine use, the cluster CA, an admin token. */
  readonly admin: AdminConfig;
  /** DATA-DIR/admin.yaml (or the option's path), mode 0600: BERTH_CONFIG=<it> makes every berth command work. */
  readonly adminConfigFile: string;
  /** `host:port` of the agents' gRPC dispatcher (the real port when 0 was asked for). */
  readonly grpcAddress: string;
  readonly etcdEndpoints: string[];
  /** The embedded etcd's client certificate, CA and key files (what `etcdctl --cacert/--cert/--key` takes); absent with --etcd. */
  readonly etcdClientFiles?: CertificateFiles;
  /** The cluster CA certificate's file (DATA-DIR/pki/ca.pem) and SHA-256 fingerprint (what join tokens pin). */
  readonly caFile: string;
  readonly caFingerprint: string;
  /** Creates a token as `berth token create` does (the secret is in the answer only). */
  createToken(req: NewTokenRequest): Promise<TokenView & { readonly token: string }>;
  /** Idempotent: closes HTTP, aborts the leader loops (resigning), closes etcd, stops embedded etcd. */
  stop(): Promise<void>;
}

type Cleanup = () => Promise<void>;

/** Supervision lines (etcd restarts, leadership changes) go to stderr, whatever Nest's log level. */
const stderrLog =
  (source: string) =>
  (line: string): void => {
    process.stderr.write(`berth ${source}: ${line}\n`);
  };

async function runCleanups(cleanups: Cleanup[]): Promise<void> {
  for (const cleanup of cleanups.reverse()) {
    await cleanup().catch((e: unknown) => stderrLog('shutdown')(e instanceof Error ? e.message : String(e)));
  }
}

/** The etcd to use (with the client certificate it wants), and the operations it allows per transaction (berth's own raises etcd's 128). */
async function startEtcd(config: ControlPlaneConfig, cleanups: Cleanup[]): Promise<{ endpoints: string[]; tls?: EtcdTls; clientFiles?: CertificateFiles; maxTxnOps: number }> {
  if (config.etcdEndpoints) {
    return { endpoints: [...config.etcdEndpoints], ...(config.etcdTls ? { tls: config.etcdTls } : {}), maxTxnOps: config.etcdMaxTxnOps ?? ETCD_DEFAULT_MAX_TXN_OPS };
  }
  const etcd = await EmbeddedEtcd.start({ dataDir: config.dataDir, log: stderrLog('etcd') });
  cleanups.push(() => etcd.stop());
  return { endpoints: [...etcd.endpoints], tls: etcd.clientTls, clientFiles: etcd.clientFiles, maxTxnOps: EMBEDDED_MAX_TXN_OPS };
}

async function listen(app: NestFastifyApplication, config: ControlPlaneConfig): Promise<string> {
  const address = formatAddress(config.api.host, config.api.port);
  try {
    await app.listen(config.api.port, config.api.host);
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === 'EADDRINUSE') throw new ListenError(address, 'address already in use (is another berth server running?)');
    if (code === 'EADDRNOTAVAIL') throw new ListenError(address, 'no such local address');
    if (code === 'EACCES') throw new ListenError(address, 'permission denied');
    throw new ListenError(address, e instanceof Error ? e.message : String(e));
  }
  const bound = app.getHttpServer().address();
  const port = typeof bound === 'object' && bound !== null ? bound.port : config.api.port;
  return `https://${formatAddress(config.api.host, port)}`;
}

/** The URL a client on this machine uses: a wildcard listen address is reached over loopback. */
function localUrl(apiUrl: string): string {
  const url = new URL(apiUrl);
  if (url.hostname === '0.0.0.0') url.hostname = '127.0.0.1';
  if (url.hostname === '[::]') url.hostname = '[::1]';
  return url.toString().replace(/\/+$/, '');
}

/**
 * Starts one control-plane replica: etcd (embedded in `dataDir` unless endpoints are given), the
 * store, leader election with the leader-only loops, and the HTTP API. Any replica serves the
 * API; one leads. Throws ValidationError for bad options, ListenError when the API address cannot
 * be bound; whatever was started is stopped again before it throws.
 */
export async function startControlPlane(opts: ControlPlaneOptions): Promise<RunningControlPlane> {
  const config = parseOptions(opts);
  const cleanups: Cleanup[] = [];
  try {
    await mkdir(config.dataDir, { recursive: true });
    const etcd = await startEtcd(config, cleanups);
    const etcdEndpoints = etcd.endpoints;
    const client = createEtcdClient({ endpoints: etcdEndpoints, ...(etcd.tls ? { tls: etcd.tls } : {}) });
    cleanups.push(async () => client.close());
    const elector = new LeaderElection(client, { id: config.id, ttlSeconds: config.leaderTtlSeconds, log: stderrLog('leader') });
    const members = new ControlPlaneMembers(client, keyspace());
    const identityStore = new EtcdIdentityStore(client, keyspace());
    const ca = await establishClusterCa(config.dataDir, identityStore);
    const serving = new ServingCertificate(ca, servingNames([config.api.host, config.grpc.host], config.advertise));
    serving.start();
    cleanups.push(async () => serving.stop());
    const app = await createHttpApp({
      store: new EtcdStore(client, { maxTxnOps: etcd.maxTxnOps }),
      metrics: new ControlPlaneMetrics(),
      elector,
      dispatcher: { host: config.grpc.host, port: config.grpc.port, nodeDownAfterMs: config.nodeDownAfterMs },
      nodeGraceMs: config.nodeGraceMs,
      imageResolver: new SkopeoImageResolver({ insecureRegistries: config.insecureRegistries }),
      members: { self: config.id, list: () => members.list() },
      identity: { store: identityStore, ca, serving, nodeCertificateLifetimeMs: config.nodeCertificateLifetimeMs },
    });
    cleanups.push(() => app.close());
    const apiUrl = await listen(app, config);
    const adminConfigFile = config.adminConfigFile;
    const admin = await ensureAdminConfig(adminConfigFile, { server: localUrl(apiUrl), ca: ca.certPem, tokens: app.get(TokenService), owner: config.id });
    // Announced once it answers, so service discovery never lists a replica that cannot be scraped.
    const announcing = new AbortController();
    const announced = members.announce({ id: config.id, apiUrl, version: BERTH_VERSION }, config.leaderTtlSeconds, announcing.signal);
    cleanups.push(async () => {
      announcing.abort();
      await announced;
    });
    let stopping: Promise<void> | undefined;
    return {
      apiUrl,
      admin,
      adminConfigFile,
      grpcAddress: app.get(Dispatcher).address,
      etcdEndpoints,
      ...(etcd.clientFiles ? { etcdClientFiles: etcd.clientFiles } : {}),
      caFile: join(config.dataDir, 'pki', 'ca.pem'),
      caFingerprint: ca.fingerprint,
      createToken: (req) => app.get(TokenService).create(req),
      stop: () => (stopping ??= runCleanups(cleanups)),
    };
  } catch (e) {
    await runCleanups(cleanups);
    throw e;
  }
}

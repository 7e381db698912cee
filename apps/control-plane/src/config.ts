import { isIP } from 'node:net';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { DomainError, type Issue, ValidationError } from '@berth/core';
import { NODE_CERTIFICATE_LIFETIME_MS } from './identity/identity';
import { EMBEDDED_MAX_TXN_OPS, ETCD_DEFAULT_MAX_TXN_OPS, type EtcdTls } from '@berth/store';

/** What the caller (the CLI's `berth server` / `berth up`) passes to startControlPlane. */
export interface ControlPlaneOptions {
  dataDir: string;
  api: { host: string; port: number };
  grpc: { host: string; port: number };
  /** Absent → an embedded etcd is started in `dataDir`. */
  etcdEndpoints?: string[];
  /** The external etcd's --max-txn-ops (default: etcd's own, 128); the embedded etcd allows more. */
  etcdMaxTxnOps?: number;
  /** Mutual TLS to the external etcd (PEM text); the embedded one always speaks it, with certificates of its own. */
  etcdTls?: EtcdTls;
  /** Replica id for leader election (default `hostname:pid`). */
  id?: string;
  leaderTtlSeconds?: number;
  /** Grace after start / leader change during which absent nodes are `unknown` (default: node-down time + 10 s). */
  nodeGraceMs?: number;
  /** A node whose lease has not been renewed for this long is down (default 5000). */
  nodeDownAfterMs?: number;
  /** `host:port` of registries apply reaches over plain HTTP to pin image digests (loopback ones always are). */
  insecureRegistries?: string[];
  /** More names and addresses clients reach this control plane by (`--advertise`): its certificate is valid for them too. */
  advertise?: string[];
  /** How long node certificates last (default 90 days; 10 s to 365 days); agents renew them at 50–80 % of it. */
  nodeCertificateLifetimeMs?: number;
  /** Where the admin config (server, CA, admin token) is written; default `<dataDir>/admin.yaml`. */
  adminConfigFile?: string;
}

export interface Address {
  readonly host: string;
  readonly port: number;
}

/** The options, checked once and frozen; nothing else reads configuration or the environment. */
export interface ControlPlaneConfig {
  readonly dataDir: string;
  readonly api: Address;
  readonly grpc: Address;
  readonly etcdEndpoints?: readonly string[];
  readonly etcdMaxTxnOps?: number;
  readonly etcdTls?: EtcdTls;
  readonly id: string;
  readonly leaderTtlSeconds: number;
  readonly nodeGraceMs: number;
  readonly nodeDownAfterMs: number;
  readonly insecureRegistries: readonly string[];
  readonly advertise: readonly string[];
  readonly nodeCertificateLifetimeMs: number;
  readonly adminConfigFile: string;
}

export const DEFAULT_LEADER_TTL_SECONDS = 10;
/** After a start or leader change, longer than an agent's reconnect backoff (≤ 5 s) plus a lease TTL. */
export const DEFAULT_NODE_GRACE_MS = 15_000;
export const DEFAULT_NODE_DOWN_AFTER_MS = 5_000;
/** etcd grants no lease shorter than about 2 s; heartbeats every fifth of it need some room too. */
export const MIN_NODE_DOWN_AFTER_MS = 2_000;
export const MAX_NODE_DOWN_AFTER_MS = 300_000;
/** The grace covers an agent's reconnect (≤ 5 s of backoff) and one more node-down time. */
const GRACE_BEYOND_NODE_DOWN_MS = 10_000;
const MIN_NODE_CERTIFICATE_LIFETIME_MS = 10_000;
const MAX_NODE_CERTIFICATE_LIFETIME_MS = 365 * 86_400_000;

function addressIssues(field: string, a: { host: string; port: number } | undefined): Issue[] {
  if (!a || typeof a.host !== 'string' || a.host.length === 0) return [{ path: `${field}.host`, message: 'must be a host name or address' }];
  if (!Number.isInteger(a.port) || a.port < 0 || a.port > 65535) {
    return [{ path: `${field}.port`, message: `must be a port number 0..65535 (got ${String(a.port)})` }];
  }
  return [];
}

/** Checks the options; throws ValidationError listing every problem. */
export function parseOptions(opts: ControlPlaneOptions): ControlPlaneConfig {
  const issues: Issue[] = [...addressIssues('api', opts.api), ...addressIssues('grpc', opts.grpc)];
  if (typeof opts.dataDir !== 'string' || opts.dataDir.length === 0) issues.push({ path: 'dataDir', message: 'must be a directory path' });
  if (opts.etcdEndpoints !== undefined) {
    if (opts.etcdEndpoints.length === 0) issues.push({ path: 'etcdEndpoints', message: 'must name at least one endpoint' });
    for (const [i, url] of opts.etcdEndpoints.entries()) {
      if (!/^https?:\/\/[^/\s]+$/.test(url)) issues.push({ path: `etcdEndpoints[${i}]`, message: `"${url}" is not an http(s)://host:port URL` });
    }
  }
  if (opts.etcdMaxTxnOps !== undefined) {
    if (opts.etcdEndpoints === undefined) {
      issues.push({ path: 'etcdMaxTxnOps', message: `applies to an external etcd only (the embedded one allows ${EMBEDDED_MAX_TXN_OPS})` });
    } else if (!Number.isInteger(opts.etcdMaxTxnOps) || opts.etcdMaxTxnOps < ETCD_DEFAULT_MAX_TXN_OPS) {
      issues.push({ path: 'etcdMaxTxnOps', message: `must be a whole number ≥ ${ETCD_DEFAULT_MAX_TXN_OPS}, etcd's default (got ${opts.etcdMaxTxnOps})` });
    }
  }
  if (opts.etcdTls !== undefined) {
    if (opts.etcdEndpoints === undefined) issues.push({ path: 'etcdTls', message: 'applies to an external etcd only (the embedded one makes its own certificates)' });
    for (const part of ['ca', 'cert', 'key'] as const) {
      if (!/-----BEGIN [A-Z ]+-----/.test(opts.etcdTls[part] ?? '')) issues.push({ path: `etcdTls.${part}`, message: 'must be PEM text' });
    }
    for (const [i, url] of (opts.etcdEndpoints ?? []).entries()) {
      if (url.startsWith('http://')) issues.push({ path: `etcdEndpoints[${i}]`, message: `"${url}" is plain HTTP, but TLS settings are given: use https://` });
    }
  }
  const ttl = opts.leaderTtlSeconds ?? DEFAULT_LEADER_TTL_SECONDS;
  if (!Number.isInteger(ttl) || ttl < 1) issues.push({ path: 'leaderTtlSeconds', message: `must be a whole number of seconds ≥ 1 (got ${ttl})` });
  const downAfter = opts.nodeDownAfterMs ?? DEFAULT_NODE_DOWN_AFTER_MS;
  if (!Number.isInteger(downAfter) || downAfter < MIN_NODE_DOWN_AFTER_MS || downAfter > MAX_NODE_DOWN_AFTER_MS) {
    issues.push({ path: 'nodeDownAfterMs', message: `must be between ${MIN_NODE_DOWN_AFTER_MS / 1000}s and ${MAX_NODE_DOWN_AFTER_MS / 1000}s (got ${downAfter} ms)` });
  }
  const grace = opts.nodeGraceMs ?? Math.max(DEFAULT_NODE_GRACE_MS, downAfter + GRACE_BEYOND_NODE_DOWN_MS);
  if (!Number.isInteger(grace) || grace < 0) issues.push({ path: 'nodeGraceMs', message: `must be a whole number of milliseconds ≥ 0 (got ${grace})` });
  for (const [i, registry] of (opts.insecureRegistries ?? []).entries()) {
    if (!/^[^\s/:]+:\d{1,5}$|^\[[0-9A-Fa-f:]+\]:\d{1,5}$/.test(registry)) issues.push({ path: `insecureRegistries[${i}]`, message: `"${registry}" is not a host:port` });
  }
  for (const [i, name] of (opts.advertise ?? []).entries()) {
    if (isIP(name) === 0 && !/^(?=.{1,253}$)[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*$/i.test(name)) {
      issues.push({ path: `advertise[${i}]`, message: `"${name}" is neither a DNS name nor an IP address` });
    }
  }
  const certLifetime = opts.nodeCertificateLifetimeMs ?? NODE_CERTIFICATE_LIFETIME_MS;
  if (!Number.isInteger(certLifetime) || certLifetime < MIN_NODE_CERTIFICATE_LIFETIME_MS || certLifetime > MAX_NODE_CERTIFICATE_LIFETIME_MS) {
    issues.push({ path: 'nodeCertificateLifetimeMs', message: `must be between 10 seconds and 365 days (got ${certLifetime} ms)` });
  }
  if (issues.length > 0) throw new ValidationError(issues);
  return Object.freeze({
    dataDir: opts.dataDir,
    api: Object.freeze({ ...opts.api }),
    grpc: Object.freeze({ ...opts.grpc }),
    ...(opts.etcdEndpoints ? { etcdEndpoints: Object.freeze([...opts.etcdEndpoints]) } : {}),
    ...(opts.etcdMaxTxnOps !== undefined ? { etcdMaxTxnOps: opts.etcdMaxTxnOps } : {}),
    ...(opts.etcdTls ? { etcdTls: Object.freeze({ ...opts.etcdTls }) } : {}),
    id: opts.id ?? `${hostname()}:${process.pid}`,
    leaderTtlSeconds: ttl,
    nodeGraceMs: grace,
    nodeDownAfterMs: downAfter,
    insecureRegistries: Object.freeze([...(opts.insecureRegistries ?? [])]),
    advertise: Object.freeze([...(opts.advertise ?? [])]),
    nodeCertificateLifetimeMs: certLifetime,
    adminConfigFile: opts.adminConfigFile ?? join(opts.dataDir, 'admin.yaml'),
  });
}

/** The API could not listen: names the address and what to do. */
export class ListenError extends DomainError {
  readonly code = 'UNAVAILABLE';
  constructor(
    readonly address: string,
    reason: string,
  ) {
    super(`cannot listen on ${address}: ${reason}`);
  }
}

/** `host:port`, with IPv6 hosts in brackets. */
export function formatAddress(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

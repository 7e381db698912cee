import { hostname } from 'node:os';
import { DomainError, type Issue, ValidationError } from '@berth/core';

/** What the caller (the CLI's `berth server` / `berth up`) passes to startControlPlane. */
export interface ControlPlaneOptions {
  dataDir: string;
  api: { host: string; port: number };
  grpc: { host: string; port: number };
  /** Absent → an embedded etcd is started in `dataDir`. */
  etcdEndpoints?: string[];
  /** Replica id for leader election (default `hostname:pid`). */
  id?: string;
  leaderTtlSeconds?: number;
  /** Grace after start / leader change during which absent nodes are `unknown` (default 15000). */
  nodeGraceMs?: number;
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
  readonly id: string;
  readonly leaderTtlSeconds: number;
  readonly nodeGraceMs: number;
}

export const DEFAULT_LEADER_TTL_SECONDS = 10;
/** After a start or leader change, longer than an agent's reconnect backoff (≤ 5 s) plus a lease TTL. */
export const DEFAULT_NODE_GRACE_MS = 15_000;

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
  const ttl = opts.leaderTtlSeconds ?? DEFAULT_LEADER_TTL_SECONDS;
  if (!Number.isInteger(ttl) || ttl < 1) issues.push({ path: 'leaderTtlSeconds', message: `must be a whole number of seconds ≥ 1 (got ${ttl})` });
  const grace = opts.nodeGraceMs ?? DEFAULT_NODE_GRACE_MS;
  if (!Number.isInteger(grace) || grace < 0) issues.push({ path: 'nodeGraceMs', message: `must be a whole number of milliseconds ≥ 0 (got ${grace})` });
  if (issues.length > 0) throw new ValidationError(issues);
  return Object.freeze({
    dataDir: opts.dataDir,
    api: Object.freeze({ ...opts.api }),
    grpc: Object.freeze({ ...opts.grpc }),
    ...(opts.etcdEndpoints ? { etcdEndpoints: Object.freeze([...opts.etcdEndpoints]) } : {}),
    id: opts.id ?? `${hostname()}:${process.pid}`,
    leaderTtlSeconds: ttl,
    nodeGraceMs: grace,
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

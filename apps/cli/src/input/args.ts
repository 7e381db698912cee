import { MAX_REPLICAS, serviceNameProblem } from '@berth/core';
import { UsageError } from '../errors';

/** A listen address given as `HOST:PORT` (`[::1]:7070` for IPv6). */
export interface HostPort {
  readonly host: string;
  readonly port: number;
}

/** Parses `HOST:PORT`; throws UsageError naming the option when it is not one. */
export function parseHostPort(value: string, option: string): HostPort {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]\s]+)):(\d{1,5})$/.exec(value.trim());
  const port = m ? Number(m[3]) : NaN;
  if (!m || port < 0 || port > 65535) {
    throw new UsageError(`${option} must be HOST:PORT with a port 0..65535 (got "${value}")`);
  }
  return { host: (m[1] ?? m[2])!, port };
}

export function formatHostPort(hp: HostPort): string {
  return hp.host.includes(':') ? `[${hp.host}]:${hp.port}` : `${hp.host}:${hp.port}`;
}

/** True for addresses only this machine can reach. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127(\.\d{1,3}){3}$/.test(host);
}

/** Parses `--etcd URL,URL,…` into a list of http(s) URLs. */
export function parseEtcdEndpoints(value: string): string[] {
  const endpoints = value.split(',').map((e) => e.trim()).filter((e) => e.length > 0);
  if (endpoints.length === 0) throw new UsageError('--etcd needs at least one URL (e.g. http://10.0.0.1:2379)');
  for (const e of endpoints) {
    if (!/^https?:\/\/[^/\s]+\/?$/.test(e)) throw new UsageError(`--etcd: "${e}" is not an http(s)://HOST:PORT URL`);
  }
  return endpoints;
}

/** Parses `--etcd-max-txn-ops N`: a whole number; the control plane checks its range. */
export function parseMaxTxnOps(value: string): number {
  if (!/^\d+$/.test(value.trim())) throw new UsageError(`--etcd-max-txn-ops: "${value}" is not a whole number`);
  return Number(value.trim());
}

export interface ScaleRequest {
  readonly service: string;
  readonly replicas: number;
}

/** Parses `SERVICE=N` arguments; every problem is reported at once in one UsageError. */
export function parseScaleArgs(args: readonly string[]): ScaleRequest[] {
  if (args.length === 0) throw new UsageError('give at least one SERVICE=N, e.g. berth scale web=5');
  const problems: string[] = [];
  const requests: ScaleRequest[] = [];
  for (const arg of args) {
    const at = arg.lastIndexOf('=');
    const service = at < 0 ? arg : arg.slice(0, at);
    const count = at < 0 ? '' : arg.slice(at + 1);
    const nameProblem = serviceNameProblem(service);
    if (at < 0) problems.push(`"${arg}" is not SERVICE=N (e.g. web=5)`);
    else if (nameProblem) problems.push(`"${arg}": service name ${nameProblem}`);
    else if (!/^\d+$/.test(count) || Number(count) > MAX_REPLICAS) {
      problems.push(`"${arg}": replicas must be an integer between 0 and ${MAX_REPLICAS} (got "${count}")`);
    } else requests.push({ service, replicas: Number(count) });
  }
  if (problems.length > 0) throw new UsageError(problems.join('\n'));
  return requests;
}

export type ResourceKind = 'services' | 'tasks' | 'nodes';

const KIND_ALIASES: Record<string, ResourceKind> = {
  svc: 'services',
  service: 'services',
  services: 'services',
  task: 'tasks',
  tasks: 'tasks',
  no: 'nodes',
  node: 'nodes',
  nodes: 'nodes',
};

/** Resolves a kind as users type it (`svc`, `service`, `services`, `task`, `no`, …). */
export function parseKind(value: string): ResourceKind {
  const kind = KIND_ALIASES[value.toLowerCase()];
  if (!kind) throw new UsageError(`unknown resource type "${value}" (use services, tasks or nodes)`);
  return kind;
}

export const OUTPUT_FORMATS = ['table', 'wide', 'json', 'yaml'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

import { isIP } from 'node:net';
import { labelKeyProblem, labelValueProblem, USER_NAMESPACE_IDS } from '@berth/core';
import { UsageError } from '../errors';
import { formatHostPort, parseHostPort } from './args';

const MAX_LABEL = 63;
/** Linux interface names: at most 15 bytes, no slash, colon or whitespace. */
const IFNAME = /^[A-Za-z0-9_.-]{1,15}$/;

/**
 * The default node name: the host name's first label, lower-cased and made a DNS-1123 label
 * (other characters become "-", at most 63 characters); "node" when nothing is left.
 */
export function nodeNameFromHost(hostname: string): string {
  const label = hostname.split('.')[0] ?? '';
  const name = label
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .slice(0, MAX_LABEL)
    .replace(/^-+|-+$/g, '');
  return name || 'node';
}

/** `--name`: a DNS-1123 label, as service names are. */
export function parseNodeName(value: string): string {
  if (value.length > MAX_LABEL || !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(value)) {
    throw new UsageError(`--name must be a DNS-1123 label (lowercase letters, digits and "-", at most 63; got "${value}")`);
  }
  return value;
}

/** `--server HOST:PORT` of the control plane's agent (gRPC) listener. */
export function parseAgentServer(value: string): string {
  return formatHostPort(parseHostPort(value, '--server'));
}

/** Collects repeatable `--label k=v` into a map; a bad key or value is a usage error. */
export function collectLabel(value: string, previous: Record<string, string> | undefined): Record<string, string> {
  const at = value.indexOf('=');
  if (at <= 0) throw new UsageError(`--label must be KEY=VALUE (got "${value}")`);
  const key = value.slice(0, at);
  const val = value.slice(at + 1);
  const problem = labelKeyProblem(key) ?? labelValueProblem(val);
  if (problem) throw new UsageError(`--label ${value}: ${problem}`);
  return { ...previous, [key]: val };
}

/** Collects repeatable `--insecure-registry HOST:PORT` (registries reached over plain HTTP). */
export function collectRegistry(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), formatHostPort(parseHostPort(value, '--insecure-registry'))];
}

/** `--address`: the IP address this node announces to the control plane. */
export function parseAddress(value: string): string {
  if (isIP(value) === 0) throw new UsageError(`--address must be an IP address (got "${value}")`);
  return value;
}

export function parseBridge(value: string): string {
  if (!IFNAME.test(value)) throw new UsageError(`--bridge must be a network interface name of at most 15 characters (got "${value}")`);
  return value;
}

/**
 * `--token` or `BERTH_JOIN_TOKEN`: a join token (`BERTHJ1-…`, from `berth token create --role
 * join`). Only its kind is checked here; the agent checks the rest when it joins.
 */
export function parseJoinToken(value: string, source = '--token'): string {
  const token = value.trim();
  if (!token.startsWith('BERTHJ1-')) {
    throw new UsageError(`${source} must be a join token (BERTHJ1-…, from berth token create --role join on the control plane)`);
  }
  return token;
}

/** `--userns-base`: first host id of the node's user namespace range, decimal or 0x-hex, a multiple of 65536 that keeps the range below 2^31. */
export function parseUsernsBase(value: string): number {
  const n = /^(\d+|0x[0-9a-f]+)$/i.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n) || n < USER_NAMESPACE_IDS || n % USER_NAMESPACE_IDS !== 0 || n + USER_NAMESPACE_IDS > 2 ** 31) {
    throw new UsageError(`--userns-base must be a multiple of 65536 from 65536 to 2147418112 (got "${value}")`);
  }
  return n;
}

/** `--subnet`: an IPv4 CIDR for the task network, e.g. 10.88.0.0/16. */
export function parseSubnet(value: string): string {
  const m = /^(\d{1,3}(?:\.\d{1,3}){3})\/(\d{1,2})$/.exec(value);
  if (!m || isIP(m[1]!) !== 4 || Number(m[2]) > 30 || Number(m[2]) < 8) {
    throw new UsageError(`--subnet must be an IPv4 CIDR with a prefix of /8 to /30 (got "${value}")`);
  }
  return value;
}

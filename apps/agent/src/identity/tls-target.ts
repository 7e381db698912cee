import { isIP } from 'node:net';
import { checkServerIdentity } from 'node:tls';
import type { ChannelOptions, VerifyOptions } from '@grpc/grpc-js';

/** The TLS server name sent when the control plane is dialled by IP address. */
export const IP_TARGET_SERVER_NAME = 'berth-control-plane';

/**
 * How to dial `server` (`host:port`, `[v6]:port`): grpc-js sends the dialled host as the TLS
 * server name, which Node deprecates for IP addresses (DEP0123, a warning on every start). For an
 * IP it sends a fixed name instead and checks the control plane's certificate against the IP
 * itself, exactly as it would have; a DNS name goes as it is.
 */
export function tlsTarget(server: string): { readonly options: ChannelOptions; readonly verify: VerifyOptions } {
  const host = /^\[(.+)\]:\d+$/.exec(server)?.[1] ?? server.replace(/:\d+$/, '');
  if (isIP(host) === 0) return { options: {}, verify: {} };
  return {
    options: { 'grpc.ssl_target_name_override': IP_TARGET_SERVER_NAME },
    verify: { checkServerIdentity: (_name, cert) => checkServerIdentity(host, cert) },
  };
}

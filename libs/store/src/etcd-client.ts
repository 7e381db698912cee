import { TooLargeError, UnavailableError } from '@berth/core';
import { Etcd3, GRPCDeadlineExceededError, isRecoverableError, type CallContext } from 'etcd3';
import { MemberSkippedError, memberPolicy } from './host-breaker';

/** Deadline for every unary etcd call (streams — watches, lease keepalives — have none). */
export const DEFAULT_CALL_TIMEOUT_MS = 5_000;

/** Mutual TLS to etcd, PEM text: the CA that signed etcd's certificate, and this client's certificate and key. */
export interface EtcdTls {
  readonly ca: string;
  readonly cert: string;
  readonly key: string;
}

export interface EtcdClientOptions {
  readonly endpoints: readonly string[];
  /** For https:// endpoints that want a client certificate (berth's embedded etcd always does). */
  readonly tls?: EtcdTls;
  /** Deadline of each unary call; default 5 s. */
  readonly callTimeoutMs?: number;
}

const endpointsOf = new WeakMap<Etcd3, readonly string[]>();

/**
 * The one way berth builds an etcd client: gRPC keepalive (ping every 10 s, 5 s to answer) so a
 * dead member is noticed on idle watch streams, a deadline on every unary call, and room for
 * large range answers (a 4 MiB manifest comes back in one list).
 */
export function createEtcdClient(opts: EtcdClientOptions): Etcd3 {
  const timeout = opts.callTimeoutMs ?? DEFAULT_CALL_TIMEOUT_MS;
  const client = new Etcd3({
    hosts: [...opts.endpoints],
    ...(opts.tls ? { credentials: { rootCertificate: Buffer.from(opts.tls.ca), certChain: Buffer.from(opts.tls.cert), privateKey: Buffer.from(opts.tls.key) } } : {}),
    grpcOptions: {
      'grpc.keepalive_time_ms': 10_000,
      'grpc.keepalive_timeout_ms': 5_000,
      'grpc.keepalive_permit_without_calls': 1,
      'grpc.max_receive_message_length': 64 * 1024 * 1024,
      'grpc.max_send_message_length': 64 * 1024 * 1024,
      // grpc-js would send the dialled IP as TLS server name, which Node deprecates (DEP0123, a
      // warning on every start): for loopback members (the embedded etcd) the name is localhost,
      // which its certificate carries too.
      ...(opts.tls && opts.endpoints.every((e) => /^https:\/\/(127\.0\.0\.1|\[::1\]):\d+$/.test(e)) ? { 'grpc.ssl_target_name_override': 'localhost' } : {}),
    },
    defaultCallOptions: (ctx: CallContext) => (ctx.isStream ? {} : { deadline: Date.now() + timeout }),
    faultHandling: { host: memberPolicy },
  });
  endpointsOf.set(client, opts.endpoints);
  return client;
}

/** How a client's endpoints read in error messages. */
export function describeEndpoints(client: Etcd3): string {
  const eps = endpointsOf.get(client);
  return eps && eps.length > 0 ? eps.join(',') : 'the configured endpoints';
}

const TOO_LARGE = /too many operations in txn request|request is too large|larger than max/i;

/** True for errors that mean "etcd did not answer" (as opposed to "etcd said no"). */
export function isUnavailable(e: unknown): boolean {
  if (!(e instanceof Error)) return false;
  return (
    isRecoverableError(e) ||
    e instanceof GRPCDeadlineExceededError ||
    e instanceof MemberSkippedError ||
    /circuit breaker is open/.test(e.message) ||
    /deadline exceeded|unavailable|no leader|leader changed|request timed out|connection (refused|reset|closed)/i.test(e.message)
  );
}

/**
 * Runs one etcd call and turns transport failures into domain errors: an unanswered call becomes
 * UnavailableError naming the endpoints; a refused oversized txn becomes TooLargeError with
 * `tooLarge()`'s message (or etcd's own words when the caller gave none).
 */
export async function etcdCall<T>(client: Etcd3, what: string, fn: () => Promise<T>, tooLarge?: () => string): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    throw translateError(client, what, e, tooLarge);
  }
}

export function translateError(client: Etcd3, what: string, e: unknown, tooLarge?: () => string): unknown {
  if (e instanceof Error && TOO_LARGE.test(e.message)) {
    return new TooLargeError(tooLarge ? tooLarge() : `${what}: etcd refused the request as too large (${e.message})`);
  }
  if (isUnavailable(e)) {
    const detail = e instanceof Error ? e.message : String(e);
    return new UnavailableError(`etcd at ${describeEndpoints(client)} did not answer (${what}): ${detail}`);
  }
  return e;
}

import { credentials, Metadata, status, type ChannelCredentials, type ServiceError } from '@grpc/grpc-js';
import { NodeCaServiceClient } from '@berth/proto';
import { caFingerprint, createCsr, newPrivateKey, parseToken } from '@berth/pki';
import { identityOf, message, nodeCommonName, saveIdentity, type IdentityFiles, type NodeIdentity } from './node-identity';
import { tlsTarget } from './tls-target';

/** Deadline of each NodeCaService call. */
export const CA_CALL_DEADLINE_MS = 10_000;

export interface JoinOptions {
  /** host:port of the control plane's gRPC listener. */
  readonly server: string;
  readonly name: string;
  /** The join token, `BERTHJ1-<ca fingerprint>-<id>.<secret>`. */
  readonly token: string;
  readonly files: IdentityFiles;
  readonly log: (line: string) => void;
  readonly deadlineMs?: number;
}

/** The check a join token fails before anything is sent: not a join token, or no CA fingerprint. */
export function joinTokenFingerprint(token: string): string {
  const parsed = parseToken(token);
  if (parsed?.kind !== 'join' || parsed.caFingerprint === undefined) {
    throw new Error('not a join token: expected BERTHJ1-<ca fingerprint>-<id>.<secret> (berth token create --role join on the control plane)');
  }
  return parsed.caFingerprint;
}

/**
 * Joins the cluster as node `name` (docs/agent-protocol.md "Joining"): fetches the CA over a
 * connection that does not verify the server yet and trusts it only when its fingerprint is the
 * one the token names; then sends a CSR for a new key with the token over a connection that
 * verifies the server with that CA. Saves the identity and returns it. Writes nothing on failure.
 */
export async function joinCluster(o: JoinOptions): Promise<NodeIdentity> {
  const pinned = joinTokenFingerprint(o.token);
  const deadlineMs = o.deadlineMs ?? CA_CALL_DEADLINE_MS;
  const fail = (e: unknown) => new Error(`joining ${o.server} as node ${o.name} failed: ${details(e)}`);

  // Nothing from this connection is trusted until the fingerprint matches.
  const unverified = credentials.createSsl(null, null, null, { rejectUnauthorized: false });
  const target = tlsTarget(o.server);
  let caPem: string;
  try {
    caPem = (await unary<{ caPem: string }>(o.server, unverified, deadlineMs, (c, opts, cb) => c.getCa({}, new Metadata(), opts, cb))).caPem;
  } catch (e) {
    throw fail(e);
  }
  let presented: string;
  try {
    presented = caFingerprint(caPem);
  } catch (e) {
    throw fail(`the CA it sent cannot be read: ${message(e)}`);
  }
  if (presented !== pinned) {
    throw new Error(`the control plane at ${o.server} presented a CA with fingerprint ${presented}, not the ${pinned} the join token names: refusing to join`);
  }

  const keyPem = newPrivateKey();
  const csrPem = createCsr(keyPem, nodeCommonName(o.name));
  let certPem: string;
  try {
    const res = await unary<{ certificatePem: string }>(o.server, credentials.createSsl(Buffer.from(caPem), null, null, target.verify), deadlineMs, (c, opts, cb) => c.join({ token: o.token, csrPem }, new Metadata(), opts, cb));
    certPem = res.certificatePem;
  } catch (e) {
    throw fail(e);
  }
  let identity: NodeIdentity;
  try {
    identity = identityOf(caPem, certPem, keyPem, o.name);
  } catch (e) {
    throw fail(`the certificate it issued is unusable: ${message(e)}`);
  }
  await saveIdentity(o.files, identity);
  o.log(`joined the cluster as node ${o.name}; certificate valid until ${identity.validTo.toISOString()}`);
  return identity;
}

/**
 * Renews the node certificate: sends a CSR for `keyPem` (same name) with `Renew` over mutual TLS
 * with `creds` (the current certificate). Returns the new certificate, PEM.
 */
export async function requestRenewal(server: string, creds: ChannelCredentials, csrPem: string, deadlineMs = CA_CALL_DEADLINE_MS): Promise<string> {
  const res = await unary<{ certificatePem: string }>(server, creds, deadlineMs, (c, opts, cb) => c.renew({ csrPem }, new Metadata(), opts, cb));
  return res.certificatePem;
}

/** A ServiceError's details with its code name (`UNAUTHENTICATED: token expired`), or the message. */
export function details(e: unknown): string {
  if (isServiceError(e)) return `${status[e.code] ?? e.code}: ${e.details || e.message}`;
  return message(e);
}

export function isServiceError(e: unknown): e is ServiceError {
  return e instanceof Error && typeof (e as Partial<ServiceError>).code === 'number' && 'details' in e;
}

type Callback<T> = (err: ServiceError | null, res: T) => void;

/** One unary call on a client of its own, closed once it is answered. */
function unary<T>(server: string, creds: ChannelCredentials, deadlineMs: number, call: (c: NodeCaServiceClient, opts: { deadline: Date }, cb: Callback<T>) => void): Promise<T> {
  // A connection of its own (not one from grpc-js's global pool): it presents the current certificate.
  const client = new NodeCaServiceClient(server, creds, { 'grpc.use_local_subchannel_pool': 1, ...tlsTarget(server).options });
  return new Promise<T>((resolve, reject) => {
    call(client, { deadline: new Date(Date.now() + deadlineMs) }, (err, res) => (err ? reject(err) : resolve(res)));
  }).finally(() => client.close());
}

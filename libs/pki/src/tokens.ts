import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * berth's bearer secrets: join tokens (an agent joining the cluster) and API tokens (a person or
 * a program using the API). A token is `<prefix>-…<id>.<secret>`: the id names its record (shown
 * by `berth token ls`, used by `revoke`), the secret is shown once and stored only as a hash.
 *
 *   join: BERTHJ1-<sha256 of the cluster CA certificate, hex>-<id>.<secret>
 *   api:  BERTHA1-<id>.<secret>
 *
 * A join token carries the CA's fingerprint so an agent can pin the CA before it trusts anything
 * the control plane sends (it fetches the certificate over an unverified connection, then checks).
 */

export type TokenKind = 'join' | 'api';

const PREFIX: Record<TokenKind, string> = { join: 'BERTHJ1', api: 'BERTHA1' };
const ID = /^[a-z0-9]{12}$/;
const SECRET = /^[a-z0-9]{32}$/;
const FINGERPRINT = /^[0-9a-f]{64}$/;
const ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';

/** A token as its holder writes it, split up. */
export interface ParsedToken {
  readonly kind: TokenKind;
  readonly id: string;
  readonly secret: string;
  /** Join tokens only: the fingerprint (caFingerprint) of the CA the agent may trust. */
  readonly caFingerprint?: string;
}

/** A new token: the text to hand out once, and the hash of its secret to store under its id. */
export function newToken(kind: TokenKind, caFingerprint?: string): { readonly token: string; readonly id: string; readonly secretHash: string } {
  if (kind === 'join' && (caFingerprint === undefined || !FINGERPRINT.test(caFingerprint))) {
    throw new RangeError('a join token needs the CA fingerprint (64 hex digits)');
  }
  const id = randomText(12);
  const secret = randomText(32);
  const token = kind === 'join' ? `${PREFIX.join}-${caFingerprint}-${id}.${secret}` : `${PREFIX.api}-${id}.${secret}`;
  return { token, id, secretHash: hashSecret(secret) };
}

/** Splits a token; undefined for anything that is not one (the caller says "not a berth token" its own way). */
export function parseToken(text: string): ParsedToken | undefined {
  const t = text.trim();
  const join = /^BERTHJ1-([0-9a-f]{64})-([a-z0-9]+)\.([a-z0-9]+)$/.exec(t);
  if (join) return valid({ kind: 'join', caFingerprint: join[1]!, id: join[2]!, secret: join[3]! });
  const api = /^BERTHA1-([a-z0-9]+)\.([a-z0-9]+)$/.exec(t);
  if (api) return valid({ kind: 'api', id: api[1]!, secret: api[2]! });
  return undefined;
}

/** SHA-256 of a secret, hex: what is stored. Secrets are 165 random bits, so no salt or slow hash is needed. */
export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

/** Whether `secret` is the one whose hash is `secretHash`, compared in constant time. */
export function secretMatches(secret: string, secretHash: string): boolean {
  const given = Buffer.from(hashSecret(secret), 'hex');
  const stored = Buffer.from(secretHash, 'hex');
  return stored.length === given.length && timingSafeEqual(given, stored);
}

function valid(t: ParsedToken): ParsedToken | undefined {
  return ID.test(t.id) && SECRET.test(t.secret) ? t : undefined;
}

/** `n` characters from [a-z0-9], uniformly (rejection sampling: 256 is no multiple of 36). */
function randomText(n: number): string {
  let out = '';
  while (out.length < n) {
    for (const b of randomBytes(n * 2)) {
      if (b < 252 && out.length < n) out += ALPHABET[b % 36];
    }
  }
  return out;
}

import { Inject, Injectable } from '@nestjs/common';
import { NotFoundError } from '@berth/core';
import { newToken, parseToken, secretMatches } from '@berth/pki';
import type { TokenView } from '@berth/api';
import type { TokenRole } from '@berth/core';
import type { StoredToken } from '@berth/store';
import { IDENTITY } from '../tokens';
import type { IdentityDeps } from './identity';

export type { TokenRole } from '@berth/core';
export type { TokenView } from '@berth/api';

export interface NewTokenRequest {
  readonly role: TokenRole;
  /** Absent: valid until revoked. */
  readonly ttlSeconds?: number;
  readonly description?: string;
}

/** A presented token checked: the stored one it is, or why it was refused. */
export type TokenCheck = { readonly token: StoredToken } | { readonly refused: string };

const view = (t: StoredToken): TokenView => ({
  id: t.id,
  role: t.role,
  createdAt: t.createdAt,
  ...(t.expiresAt ? { expiresAt: t.expiresAt } : {}),
  ...(t.description ? { description: t.description } : {}),
});

/**
 * Join and API tokens: created with a random secret shown once, stored as its hash (etcd removes
 * expiring ones on their lease), checked in constant time, revoked by deleting them.
 */
@Injectable()
export class TokenService {
  constructor(@Inject(IDENTITY) private readonly deps: IdentityDeps) {}

  async create(req: NewTokenRequest, now: Date = new Date()): Promise<TokenView & { readonly token: string }> {
    const made = req.role === 'join' ? newToken('join', this.deps.ca.fingerprint) : newToken('api');
    const stored: StoredToken = {
      id: made.id,
      role: req.role,
      secretHash: made.secretHash,
      createdAt: now.toISOString(),
      ...(req.ttlSeconds !== undefined ? { expiresAt: new Date(now.getTime() + req.ttlSeconds * 1000).toISOString() } : {}),
      ...(req.description ? { description: req.description } : {}),
    };
    await this.deps.store.createToken(stored, req.ttlSeconds);
    return { ...view(stored), token: made.token };
  }

  async list(): Promise<TokenView[]> {
    return (await this.deps.store.listTokens()).map(view);
  }

  async revoke(id: string): Promise<TokenView> {
    const gone = await this.deps.store.deleteToken(id);
    if (!gone) throw new NotFoundError('token', id);
    return view(gone);
  }

  /**
   * Checks a presented token: well-formed, known, its secret matching, not expired, and for a
   * join token, naming this cluster's CA. The reasons are for logs and the caller's error: they
   * never say more than "unknown" about a token that does not exist.
   */
  async check(text: string, now: Date = new Date()): Promise<TokenCheck> {
    const parsed = parseToken(text);
    if (!parsed) return { refused: 'not a berth token' };
    if (parsed.kind === 'join' && parsed.caFingerprint !== this.deps.ca.fingerprint) return { refused: "the join token is for another cluster's CA" };
    const stored = await this.deps.store.getToken(parsed.id);
    if (!stored || !secretMatches(parsed.secret, stored.secretHash)) return { refused: `token ${parsed.id} is unknown, expired or revoked` };
    if (stored.expiresAt !== undefined && stored.expiresAt <= now.toISOString()) return { refused: `token ${parsed.id} expired at ${stored.expiresAt}` };
    if ((parsed.kind === 'join') !== (stored.role === 'join')) return { refused: `token ${parsed.id} is not a ${parsed.kind === 'join' ? 'join' : 'API'} token` };
    return { token: stored };
  }
}

import { formatAge, humanDuration } from './age';
import type { ListLayout } from './lists';
import { cell } from './table';

/** The roles of a token, least to most privileged (docs/security.md). */
export const TOKEN_ROLES = ['join', 'viewer', 'deployer', 'admin'] as const;
export type TokenRole = (typeof TOKEN_ROLES)[number];

/** A token as `GET /api/v1/tokens` lists it: never its secret. */
export interface TokenView {
  readonly id: string;
  readonly role: TokenRole;
  readonly createdAt: string;
  /** Absent: the token does not expire. */
  readonly expiresAt?: string;
  readonly description?: string;
}

/** `POST /api/v1/tokens`'s answer: the only time the secret is shown. */
export interface CreatedToken extends TokenView {
  readonly token: string;
}

/** `never`, `in 23h`, or `expired` once the time has passed. */
export function formatExpiry(expiresAt: string | undefined, now: Date): string {
  if (expiresAt === undefined) return 'never';
  const at = Date.parse(expiresAt);
  if (Number.isNaN(at)) return '-';
  return at <= now.getTime() ? 'expired' : `in ${humanDuration(at - now.getTime())}`;
}

/** `berth token ls`: ages like the other lists; `-o wide` adds the exact times. */
export const tokenLayout: ListLayout<TokenView> = {
  headers: ['id', 'role', 'created', 'expires', 'description'],
  wideHeaders: ['created-at', 'expires-at'],
  row: (t, now) => [t.id, t.role, formatAge(t.createdAt, now), formatExpiry(t.expiresAt, now), cell(t.description)],
  wideRow: (t) => [t.createdAt, cell(t.expiresAt)],
};

import type { TokenRole } from '@berth/core';

/** A token as `GET /api/v1/tokens` lists it: never its secret. */
export interface TokenView {
  readonly id: string;
  readonly role: TokenRole;
  readonly createdAt: string;
  /** Absent: valid until revoked. */
  readonly expiresAt?: string;
  readonly description?: string;
}

/** `POST /api/v1/tokens`'s answer: the only time the secret is shown. */
export interface CreatedToken extends TokenView {
  readonly token: string;
}

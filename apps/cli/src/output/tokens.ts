import type { TokenView } from '@berth/api';
import { formatAge, humanDuration } from './age';
import type { ListLayout } from './lists';
import { cell } from './table';

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

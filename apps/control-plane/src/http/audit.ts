import type { NewEvent } from '@berth/core';
import type { Caller } from './access';

/** Requests that change nothing though they are not GETs: they leave no audit entry. */
const READ_ONLY_POSTS = new Set(['/api/v1/diff']);
const MAX_MESSAGE = 400;

/** Whether a request can change the cluster (and so is audited). */
export function isMutating(method: string, path: string): boolean {
  return !['GET', 'HEAD', 'OPTIONS'].includes(method.toUpperCase()) && !READ_ONLY_POSTS.has(path);
}

/**
 * The audit event of one mutating request: who (the token), what (method and path, with its
 * query), how it ended (status), and the resource versions the answer names. Denied: refused for
 * the token's role (403); every other outcome is a Request.
 */
export function auditEvent(o: { readonly caller: Caller; readonly method: string; readonly url: string; readonly status: number; readonly answer?: string }): NewEvent {
  const versions = [...new Set([...(o.answer ?? '').matchAll(/"resourceVersion":"(\d+)"/g)].map((m) => m[1]!))].slice(0, 5);
  const service = /^\/api\/v1\/services\/([^/?]+)/.exec(o.url)?.[1];
  const what = `${o.method.toUpperCase()} ${o.url}`.slice(0, MAX_MESSAGE - 100);
  return {
    kind: 'audit',
    object: `token:${o.caller.tokenId}`,
    reason: o.status === 403 ? 'Denied' : 'Request',
    message: `${what} by ${o.caller.role} token ${o.caller.tokenId}: ${o.status}${versions.length > 0 ? ` (resourceVersion ${versions.join(', ')})` : ''}`,
    ...(service ? { service: decodeURIComponent(service) } : {}),
  };
}

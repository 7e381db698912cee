import { HttpException } from '@nestjs/common';
import { type ErrorCode, type Issue, isDomainError, ValidationError } from '@berth/core';

/** An RFC 9457 problem document, as docs/api.md specifies it. */
export interface Problem {
  readonly type: string;
  readonly title: string;
  readonly status: number;
  readonly code: ErrorCode;
  readonly detail: string;
  readonly issues?: readonly Issue[];
}

const STATUS: Record<ErrorCode, number> = {
  INVALID: 422,
  TOO_LARGE: 413,
  NOT_FOUND: 404,
  ALREADY_EXISTS: 409,
  CONFLICT: 409,
  UNAVAILABLE: 503,
  NOT_LEADER: 500,
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  INTERNAL: 500,
};

const TITLE: Record<ErrorCode, string> = {
  INVALID: 'Invalid request',
  TOO_LARGE: 'Request too large',
  NOT_FOUND: 'Not found',
  ALREADY_EXISTS: 'Already exists',
  CONFLICT: 'Conflict',
  UNAVAILABLE: 'Unavailable',
  NOT_LEADER: 'Not the leader',
  UNAUTHENTICATED: 'Unauthenticated',
  FORBIDDEN: 'Forbidden',
  INTERNAL: 'Internal error',
};

export function problem(code: ErrorCode, detail: string, issues?: readonly Issue[]): Problem {
  const manifest = issues?.some((i) => i.file !== undefined || i.document !== undefined);
  return {
    type: `https://berth.dev/problems/${code.toLowerCase().replace(/_/g, '-')}`,
    title: code === 'INVALID' && manifest ? 'Invalid manifest' : TITLE[code],
    status: STATUS[code],
    code,
    detail,
    ...(issues ? { issues } : {}),
  };
}

/**
 * Fastify's own errors (body limit, JSON syntax, media type) carry an HTTP status; Nest rethrows
 * them as HttpException with that status. Either way the status picks the code.
 */
function statusProblem(status: number, message: string): Problem {
  if (status === 404) return problem('NOT_FOUND', message);
  if (status === 413) return problem('TOO_LARGE', 'request body is larger than 4 MiB');
  if (status === 415) return problem('INVALID', 'unsupported content type (send application/json or application/yaml)');
  if (status >= 400 && status < 500) return problem('INVALID', `invalid request: ${message}`);
  return problem('INTERNAL', `internal error: ${message}`);
}

function httpStatusOf(e: unknown): number | undefined {
  if (e instanceof HttpException) return e.getStatus();
  const status = e instanceof Error ? (e as { statusCode?: unknown }).statusCode : undefined;
  return typeof status === 'number' ? status : undefined;
}

/**
 * Maps anything thrown while serving a request to a problem document: DomainError codes through
 * the table in docs/api.md, Nest's and Fastify's own errors to the nearest code. Unknown errors
 * are INTERNAL. Pure, so every mapping is unit-testable.
 */
export function toProblem(e: unknown): Problem {
  if (e instanceof ValidationError) return problem('INVALID', e.message, e.issues);
  if (isDomainError(e)) return problem(e.code, e.message);
  const status = httpStatusOf(e);
  if (status !== undefined) return statusProblem(status, (e as Error).message);
  return problem('INTERNAL', `internal error: ${e instanceof Error ? e.message : String(e)}`);
}

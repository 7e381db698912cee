import type { Issue } from '@berth/core';
import { ApiError, toErrorCode } from '../errors';

/**
 * Turns an error answer into an ApiError. A problem+json body supplies code, title, detail and
 * issues; anything else (a proxy's HTML page, an empty body) still yields a readable error.
 */
export function problemToError(status: number, body: string): ApiError {
  const problem = parseJsonObject(body);
  if (!problem) {
    const text = body.trim().split('\n')[0]?.slice(0, 200) ?? '';
    return new ApiError(codeForStatus(status), status, `HTTP ${status}`, text ? `HTTP ${status}: ${text}` : `HTTP ${status}`, []);
  }
  const title = typeof problem.title === 'string' ? problem.title : `HTTP ${status}`;
  const detail = typeof problem.detail === 'string' && problem.detail ? problem.detail : title;
  const code = problem.code === undefined ? codeForStatus(status) : toErrorCode(problem.code);
  return new ApiError(code, status, title, detail, toIssues(problem.issues));
}

function parseJsonObject(body: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(body);
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function toIssues(value: unknown): Issue[] {
  if (!Array.isArray(value)) return [];
  return value
    .filter((i): i is Record<string, unknown> => typeof i === 'object' && i !== null)
    .map((i) => ({
      path: typeof i.path === 'string' ? i.path : '',
      message: typeof i.message === 'string' ? i.message : String(i.message),
      ...(typeof i.file === 'string' ? { file: i.file } : {}),
      ...(typeof i.line === 'number' ? { line: i.line } : {}),
      ...(typeof i.col === 'number' ? { col: i.col } : {}),
      ...(typeof i.document === 'number' ? { document: i.document } : {}),
    }));
}

/** Without a problem body, the HTTP status is all we know (docs/api.md's table, read backwards). */
function codeForStatus(status: number) {
  const byStatus: Record<number, string> = { 401: 'UNAUTHENTICATED', 403: 'FORBIDDEN', 404: 'NOT_FOUND', 409: 'CONFLICT', 413: 'TOO_LARGE', 422: 'INVALID', 503: 'UNAVAILABLE' };
  return toErrorCode(byStatus[status] ?? 'INTERNAL');
}

import { describe, expect, it } from 'vitest';
import { exitCodeFor } from '../errors';
import { problemToError } from './problem';

describe('problemToError', () => {
  it('keeps code, detail and issues of a problem+json body', () => {
    const body = JSON.stringify({
      type: 'https://berth.dev/problems/invalid',
      title: 'Invalid manifest',
      status: 422,
      code: 'INVALID',
      detail: 'web.yaml:7:13: spec.replicas must be an integer',
      issues: [{ path: 'spec.replicas', message: 'must be an integer', file: 'web.yaml', line: 7, col: 13, document: 0 }],
    });
    const e = problemToError(422, body);
    expect(e.code).toBe('INVALID');
    expect(e.message).toBe('web.yaml:7:13: spec.replicas must be an integer');
    expect(e.issues).toEqual([{ path: 'spec.replicas', message: 'must be an integer', file: 'web.yaml', line: 7, col: 13, document: 0 }]);
    expect(exitCodeFor(e.code)).toBe(2);
  });

  it('maps a conflict to exit 1', () => {
    const e = problemToError(409, JSON.stringify({ code: 'CONFLICT', title: 'Conflict', detail: 'service "web" changed' }));
    expect(e.message).toBe('service "web" changed');
    expect(exitCodeFor(e.code)).toBe(1);
  });

  it('falls back to the HTTP status when the body is not a problem', () => {
    expect(problemToError(413, '<html>too big</html>').code).toBe('TOO_LARGE');
    expect(problemToError(404, '').code).toBe('NOT_FOUND');
    const e = problemToError(502, 'Bad Gateway\nmore');
    expect(e.code).toBe('INTERNAL');
    expect(e.message).toBe('HTTP 502: Bad Gateway');
  });

  it('knows UNAUTHENTICATED (401) and FORBIDDEN (403), both exit 1, with or without a problem body', () => {
    const detail = 'this token\'s role "viewer" may not do this: it needs "deployer"';
    const forbidden = problemToError(403, JSON.stringify({ type: 'about:blank', title: 'Forbidden', status: 403, code: 'FORBIDDEN', detail }));
    expect(forbidden).toMatchObject({ code: 'FORBIDDEN', message: detail });
    expect(problemToError(401, JSON.stringify({ code: 'UNAUTHENTICATED', detail: 'no token' })).code).toBe('UNAUTHENTICATED');
    expect(problemToError(401, '').code).toBe('UNAUTHENTICATED');
    expect(problemToError(403, '<html>no</html>').code).toBe('FORBIDDEN');
    expect(exitCodeFor('UNAUTHENTICATED')).toBe(1);
    expect(exitCodeFor('FORBIDDEN')).toBe(1);
  });

  it('treats an unknown code as INTERNAL', () => {
    expect(problemToError(500, JSON.stringify({ code: 'WEIRD', detail: 'x' })).code).toBe('INTERNAL');
  });
});

import { HttpException, NotFoundException } from '@nestjs/common';
import { describe, expect, it } from 'vitest';
import { ConflictError, NotLeaderError, TooLargeError, UnavailableError, ValidationError } from '@berth/core';
import { toProblem } from './problem';

describe('toProblem', () => {
  it.each([
    [new ConflictError('stale'), 409, 'CONFLICT'],
    [new TooLargeError('big'), 413, 'TOO_LARGE'],
    [new UnavailableError('etcd down'), 503, 'UNAVAILABLE'],
    [new NotLeaderError(), 500, 'NOT_LEADER'],
    [new NotFoundException('Cannot GET /nope'), 404, 'NOT_FOUND'],
    [new Error('boom'), 500, 'INTERNAL'],
  ])('maps %s to %i %s', (error, status, code) => {
    const p = toProblem(error);
    expect(p).toMatchObject({ status, code, type: `https://berth.dev/problems/${code.toLowerCase().replace('_', '-')}` });
  });

  it('carries the issues of a manifest and says so in the title', () => {
    const p = toProblem(new ValidationError([{ path: 'spec.replicas', message: 'must be an integer', file: 'web.yaml', line: 7, col: 13, document: 0 }]));
    expect(p).toMatchObject({ status: 422, code: 'INVALID', title: 'Invalid manifest', detail: 'web.yaml:7:13: spec.replicas must be an integer' });
    expect(p.issues).toHaveLength(1);
  });

  it('maps Fastify body errors to TOO_LARGE and INVALID', () => {
    const tooLarge = Object.assign(new Error('Request body is too large'), { code: 'FST_ERR_CTP_BODY_TOO_LARGE', statusCode: 413 });
    const badJson = Object.assign(new SyntaxError('Unexpected token } in JSON'), { code: 'FST_ERR_CTP_INVALID_JSON_BODY', statusCode: 400 });
    expect(toProblem(tooLarge)).toMatchObject({ status: 413, code: 'TOO_LARGE' });
    expect(toProblem(badJson)).toMatchObject({ status: 422, code: 'INVALID' });
  });

  it('maps the HttpExceptions Nest wraps Fastify errors in by their status', () => {
    expect(toProblem(new HttpException('Request body is too large', 413))).toMatchObject({ status: 413, code: 'TOO_LARGE' });
    const media = toProblem(new HttpException('Unsupported Media Type', 415));
    expect(media).toMatchObject({ status: 422, code: 'INVALID' });
    expect(media.detail).toContain('application/yaml');
  });
});

import { ValidationError, TooLargeError } from '@berth/core';
import { CommanderError } from '@commander-js/extra-typings';
import { describe, expect, it } from 'vitest';
import { ApiError, UnreachableError, UsageError } from '../errors';
import { describeFailure } from './failure';

describe('describeFailure', () => {
  it('prints each local validation issue as file:line:col and exits 2', () => {
    const e = new ValidationError([
      { path: 'spec.replicas', message: 'must be an integer between 0 and 10000 (got "-1")', file: 'web.yaml', line: 7, col: 13 },
      { path: 'spec.template.resources.memory', message: 'is not a memory quantity', file: 'web.yaml', line: 12, col: 17 },
    ]);
    expect(describeFailure(e)).toEqual({
      exitCode: 2,
      lines: [
        'error: invalid manifest (2 issues)',
        'web.yaml:7:13: spec.replicas must be an integer between 0 and 10000 (got "-1")',
        'web.yaml:12:17: spec.template.resources.memory is not a memory quantity',
      ],
    });
  });

  it('prints a server problem as error: detail plus its issues, with the exit code of its code', () => {
    const issues = [{ path: 'spec.mode', message: 'must be replicated or global', file: 'a.yaml', line: 3, col: 9 }];
    expect(describeFailure(new ApiError('INVALID', 422, 'Invalid manifest', 'a.yaml:3:9: spec.mode must be replicated or global', issues))).toEqual({
      exitCode: 2,
      lines: ['error: invalid manifest (1 issue)', 'a.yaml:3:9: spec.mode must be replicated or global'],
    });
    expect(describeFailure(new ApiError('CONFLICT', 409, 'Conflict', 'service "web" was changed', []))).toEqual({
      exitCode: 1,
      lines: ['error: service "web" was changed'],
    });
    expect(describeFailure(new ApiError('NOT_FOUND', 404, 'Not found', 'service "web" not found', [])).exitCode).toBe(1);
  });

  it('exits 2 for a manifest too large and for usage errors, 1 when the server cannot be reached', () => {
    expect(describeFailure(new TooLargeError('manifest is 5 MiB; the limit is 4 MiB')).exitCode).toBe(2);
    expect(describeFailure(new UsageError('unknown resource type "pods"'))).toEqual({
      exitCode: 2,
      lines: ['error: unknown resource type "pods"'],
    });
    expect(describeFailure(new UnreachableError('http://127.0.0.1:1', 'ECONNREFUSED'))).toEqual({
      exitCode: 1,
      lines: ['error: cannot reach the berth control plane at http://127.0.0.1:1 (is "berth up" running?)'],
    });
  });

  it('leaves commander usage errors to commander (already printed): exit 2; help and version exit 0', () => {
    expect(describeFailure(new CommanderError(1, 'commander.unknownCommand', 'unknown command'))).toEqual({ lines: [], exitCode: 2 });
    expect(describeFailure(new CommanderError(0, 'commander.helpDisplayed', '(outputHelp)'))).toEqual({ lines: [], exitCode: 0 });
  });

  it('reports an unexpected error with exit 1', () => {
    expect(describeFailure(new Error('boom'))).toEqual({ lines: ['error: boom'], exitCode: 1 });
  });
});

import { DomainError, type ErrorCode, type Issue } from '@berth/core';

const KNOWN_CODES: readonly ErrorCode[] = [
  'INVALID',
  'NOT_FOUND',
  'ALREADY_EXISTS',
  'CONFLICT',
  'TOO_LARGE',
  'UNAVAILABLE',
  'NOT_LEADER',
  'UNAUTHENTICATED',
  'FORBIDDEN',
  'INTERNAL',
];

/** Exit codes of docs/api.md: the input was wrong → 2, anything else went wrong → 1. */
export function exitCodeFor(code: ErrorCode): 1 | 2 {
  return code === 'INVALID' || code === 'TOO_LARGE' ? 2 : 1;
}

export function toErrorCode(value: unknown): ErrorCode {
  return KNOWN_CODES.find((c) => c === value) ?? 'INTERNAL';
}

/** The command line itself was wrong (bad argument, unreadable -f path): exit 2. */
export class UsageError extends DomainError {
  readonly code = 'INVALID';
}

/** The control plane did not answer: connection refused, DNS failure or timeout. */
export class UnreachableError extends DomainError {
  readonly code = 'UNAVAILABLE';
  constructor(readonly server: string, readonly reason: string) {
    super(`cannot reach the berth control plane at ${server} (is "berth up" running?)`);
  }
}

/**
 * The control plane answered over TLS with a certificate this client does not trust (another CA,
 * a name it is not valid for, expired). The message says which and what to do.
 */
export class UntrustedServerError extends DomainError {
  readonly code = 'UNAVAILABLE';
  constructor(readonly server: string, message: string) {
    super(message);
  }
}

/** The client config file may be read or written by group or others: it holds a token, so it is not used. */
export class ConfigFileModeError extends DomainError {
  readonly code = 'UNAVAILABLE';
  constructor(readonly path: string, mode: number) {
    super(`${path} is readable by others (mode ${(mode & 0o777).toString(8).padStart(4, '0')}): chmod 600 ${path}`);
  }
}

/** An error answer of the control plane (problem+json), carrying its code and issues. */
export class ApiError extends DomainError {
  constructor(
    readonly code: ErrorCode,
    readonly status: number,
    readonly title: string,
    detail: string,
    readonly issues: readonly Issue[],
  ) {
    super(detail);
  }
}

/** A command that manages containers on this machine was started without root privileges. */
export class NotRootError extends DomainError {
  // Exit 1, not 2: the command line is fine, this process just cannot carry it out.
  readonly code = 'UNAVAILABLE';
  constructor(command: string, why: string) {
    super(`berth ${command} must run as root (${why}); run it again with sudo`);
  }
}

/** `--wait`: a task of the new spec ended failed or rejected; the message names it and why. */
export class TaskFailedError extends DomainError {
  readonly code = 'CONFLICT';
}

/** `--wait`: the services did not converge in time; the message says what is still missing. */
export class WaitTimeoutError extends DomainError {
  readonly code = 'UNAVAILABLE';
}

/**
 * `--wait`: the service got a newer revision (another apply, an undo, a restart) before the one
 * waited for rolled out, so it will never run as written.
 */
export class SupersededError extends DomainError {
  readonly code = 'CONFLICT';
}

/**
 * A valid request whose answer is "no" (docs/api.md: exit 3): a drain that could not empty the
 * node, a rollout that paused or was rolled back. The message says what is left and why.
 */
export class AnswerIsNoError extends DomainError {
  readonly code = 'CONFLICT';
}

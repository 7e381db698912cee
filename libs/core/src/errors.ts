/**
 * Domain errors carry a stable code. Inner layers throw these; the edges map codes once:
 * the control plane's exception filter to HTTP (problem+json), the CLI to exit codes.
 */
export type ErrorCode =
  | 'INVALID'
  | 'NOT_FOUND'
  | 'ALREADY_EXISTS'
  | 'CONFLICT'
  | 'TOO_LARGE'
  | 'UNAVAILABLE'
  | 'NOT_LEADER'
  | 'UNAUTHENTICATED'
  | 'FORBIDDEN'
  | 'INTERNAL';

export abstract class DomainError extends Error {
  abstract readonly code: ErrorCode;
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** One problem found in a manifest: where (file, 1-based line/col, field path) and why. */
export interface Issue {
  /** Dotted field path inside the document, e.g. `spec.template.resources.memory`. */
  readonly path: string;
  readonly message: string;
  readonly file?: string;
  readonly line?: number;
  readonly col?: number;
  /** 0-based index of the YAML document within its file. */
  readonly document?: number;
}

/**
 * Formats an issue the way the CLI prints it:
 * `web.yaml:12:7: spec.replicas must be an integer ≥ 0 (got "three")`.
 */
export function formatIssue(issue: Issue): string {
  const where = [issue.file, issue.line, issue.col].filter((p) => p !== undefined).join(':');
  const field = issue.path ? `${issue.path} ` : '';
  return `${where ? `${where}: ` : ''}${field}${issue.message}`;
}

export class ValidationError extends DomainError {
  readonly code = 'INVALID';
  constructor(readonly issues: readonly Issue[]) {
    super(issues.map(formatIssue).join('\n') || 'invalid input');
  }
}

export class NotFoundError extends DomainError {
  readonly code = 'NOT_FOUND';
  constructor(readonly kind: string, readonly resource: string, hint?: string) {
    super(`${kind} "${resource}" not found${hint ? ` (${hint})` : ''}`);
  }
}

export class AlreadyExistsError extends DomainError {
  readonly code = 'ALREADY_EXISTS';
  constructor(readonly kind: string, readonly resource: string) {
    super(`${kind} "${resource}" already exists`);
  }
}

/** Optimistic-concurrency failure: the object changed since the caller read it. */
export class ConflictError extends DomainError {
  readonly code = 'CONFLICT';
  constructor(message: string) {
    super(message);
  }
}

export class TooLargeError extends DomainError {
  readonly code = 'TOO_LARGE';
  constructor(message: string) {
    super(message);
  }
}

/** The backing store (etcd) cannot be reached or did not answer in time. */
export class UnavailableError extends DomainError {
  readonly code = 'UNAVAILABLE';
  constructor(message: string) {
    super(message);
  }
}

/** A fenced leader write was refused: this process is no longer the leader. */
/** No credentials, or ones the server does not accept (HTTP 401). */
export class UnauthenticatedError extends DomainError {
  readonly code = 'UNAUTHENTICATED';
  constructor(message: string) {
    super(message);
  }
}

/** Valid credentials whose role does not allow the request (HTTP 403). */
export class ForbiddenError extends DomainError {
  readonly code = 'FORBIDDEN';
  constructor(message: string) {
    super(message);
  }
}

export class NotLeaderError extends DomainError {
  readonly code = 'NOT_LEADER';
  constructor() {
    super('this control plane is no longer the leader');
  }
}

export function isDomainError(e: unknown): e is DomainError {
  return e instanceof DomainError;
}

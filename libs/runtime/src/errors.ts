import { DomainError } from '@berth/core';

/** A host tool (runc, conmon, skopeo, umoci, mount) failed or missed its deadline. */
export class CommandFailedError extends DomainError {
  readonly code = 'INTERNAL';
  constructor(
    readonly command: string,
    readonly detail: string,
  ) {
    super(`${command}: ${detail}`);
  }
}

/** An image reference berth cannot interpret; the message says which forms are accepted. */
export class InvalidImageRefError extends DomainError {
  readonly code = 'INVALID';
  constructor(
    readonly ref: string,
    reason: string,
  ) {
    super(`image "${ref}": ${reason}`);
  }
}

/** Pulling or unpacking an image failed; carries the registry's (or skopeo's) own words. */
export class ImagePullError extends DomainError {
  readonly code = 'UNAVAILABLE';
  constructor(
    readonly ref: string,
    detail: string,
  ) {
    super(`pulling image "${ref}" failed: ${detail}`);
  }
}

/** The task and its image together do not describe something runnable (no command, bad user…). */
export class TaskSpecError extends DomainError {
  readonly code = 'INVALID';
  constructor(
    readonly taskId: string,
    reason: string,
  ) {
    super(`task ${taskId}: ${reason}`);
  }
}

/** The runtime could not do what was asked for a task (create, start, stop, destroy). */
export class RuntimeOperationError extends DomainError {
  readonly code = 'INTERNAL';
  constructor(
    readonly taskId: string,
    readonly operation: string,
    detail: string,
  ) {
    super(`task ${taskId}: ${operation} failed: ${detail}`);
  }
}

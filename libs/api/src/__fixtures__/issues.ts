import { ValidationError, type Issue } from '@berth/core';

/** The issues a ValidationError lists; fails the test when the input is accepted. */
export function issuesOf(run: () => unknown): readonly Issue[] {
  try {
    run();
  } catch (e) {
    if (e instanceof ValidationError) return e.issues;
    throw e;
  }
  throw new Error('expected a ValidationError, but the input was accepted');
}

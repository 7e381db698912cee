import { formatIssue, isDomainError, type Issue } from '@berth/core';
import { CommanderError } from '@commander-js/extra-typings';
import { AnswerIsNoError, exitCodeFor } from '../errors';

export interface FailureReport {
  /** Lines for stderr; empty when the message was already printed (commander's usage errors). */
  readonly lines: string[];
  readonly exitCode: number;
}

/**
 * How a failed command ends: the lines it prints on stderr and its exit code (docs/api.md: invalid
 * input 2, a valid request answered "no" 3, anything else 1). Manifest issues print one per line as `file:line:col: field message`.
 */
export function describeFailure(e: unknown): FailureReport {
  if (e instanceof CommanderError) return { lines: [], exitCode: e.exitCode === 0 ? 0 : 2 };
  if (e instanceof AnswerIsNoError) return { lines: errorLines(e.message, []), exitCode: 3 };
  if (isDomainError(e)) {
    const issues = 'issues' in e && Array.isArray(e.issues) ? (e.issues as Issue[]) : [];
    return { lines: errorLines(e.message, issues), exitCode: exitCodeFor(e.code) };
  }
  const message = e instanceof Error ? e.message : String(e);
  return { lines: errorLines(message, []), exitCode: 1 };
}

/** `error: …`, then one line per manifest issue. */
export function errorLines(message: string, issues: readonly Issue[]): string[] {
  if (issues.length === 0) return message.split('\n').map((line, i) => (i === 0 ? `error: ${line}` : line));
  // A problem's detail (and ValidationError's message) repeats the issues; print them once.
  const issueLines = issues.map(formatIssue);
  const first = message.split('\n')[0] ?? '';
  const headline = issueLines.includes(first) || first === '' ? `invalid manifest (${plural(issues.length, 'issue')})` : first;
  return [`error: ${headline}`, ...issueLines];
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

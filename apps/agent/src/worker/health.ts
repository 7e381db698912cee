import { formatDuration, type HealthCheck, type TaskHealth } from '@berth/core';
import type { ExecResult } from '@berth/runtime';

/**
 * The decisions of a task's health check, pure (the rules operators know from Docker). The timer
 * and the exec around them live in health-monitor.ts.
 */

/** What one run of the check command said. */
export type ProbeResult = { readonly passed: true } | { readonly passed: false; readonly reason: string };

/** A task's health between two runs of its check. */
export interface HealthState {
  readonly health: TaskHealth;
  /** Failures in a row that counted; a passing run resets it. */
  readonly failingStreak: number;
  /** Why the last counted failure failed: the command's output, or how it ended. */
  readonly lastFailure?: string;
}

/** Every task with a health check starts here, before the first run of its check. */
export const STARTING: HealthState = { health: 'starting', failingStreak: 0 };

/** Longest piece of a check's output that goes into the task's message. */
const REASON_MAX = 200;

/**
 * The health after one run of the check that began `sinceStartMs` after the task started:
 * - a pass makes the task healthy (also during the start period) and resets the streak;
 * - a failure of a task never healthy yet does not count during the start period;
 * - any other failure counts, and `retries` counted failures in a row make the task unhealthy.
 * Unhealthy is final: the agent stops the task, it never recovers.
 */
export function afterProbe(check: HealthCheck, state: HealthState, probe: ProbeResult, sinceStartMs: number): HealthState {
  if (state.health === 'unhealthy') return state;
  if (probe.passed) return { health: 'healthy', failingStreak: 0 };
  if (state.health === 'starting' && sinceStartMs < check.startPeriodMs) return state;
  const failingStreak = state.failingStreak + 1;
  return { health: failingStreak >= check.retries ? 'unhealthy' : state.health, failingStreak, lastFailure: probe.reason };
}

/** Exit code 0 passes; anything else fails, with the output (one line, bounded) or how it ended. */
export function probeResult(check: HealthCheck, r: ExecResult): ProbeResult {
  if (r.timedOut) return { passed: false, reason: `timed out after ${formatDuration(check.timeoutMs)}` };
  if (r.exitCode === 0) return { passed: true };
  return { passed: false, reason: oneLine(r.output) || `exited with code ${r.exitCode}` };
}

/** The failed task's message: `health check failed 3 times in a row: <why the last run failed>`. */
export function unhealthyMessage(state: HealthState): string {
  const n = state.failingStreak;
  return `health check failed ${n} ${n === 1 ? 'time' : 'times'} in a row: ${state.lastFailure ?? 'no reason given'}`;
}

function oneLine(output: string): string {
  const line = output.replace(/\s+/g, ' ').trim();
  return line.length > REASON_MAX ? `${line.slice(0, REASON_MAX - 1)}…` : line;
}

import { setTimeout as sleep } from 'node:timers/promises';
import type { HealthCheck } from '@berth/core';
import { afterProbe, type HealthState, type ProbeResult } from './health';
import type { Probe } from './health-probes';

export interface HealthMonitorOptions {
  readonly check: HealthCheck;
  /** One run of the check, bounded by its timeout (health-probes.ts probeFor). */
  readonly probe: Probe;
  /** When the task started running (epoch ms); the start period counts from it. */
  readonly startedAtMs: number;
  /** STARTING for a task that just started; what was recorded for a re-adopted one. */
  readonly initial: HealthState;
  readonly now: () => number;
  /** Awaited on every change of health except the final `unhealthy` (that one is the result). */
  readonly onChange: (state: HealthState) => Promise<void>;
}

/**
 * Runs the health check every `interval` (the first run one interval after the monitor starts,
 * as Docker does), each run bounded by `timeout`, until the task turns unhealthy — resolving
 * with that state — or `signal` aborts — resolving undefined. Runs never overlap. The decisions
 * are afterProbe's; this is only the timer around the probe.
 */
export async function monitorHealth(o: HealthMonitorOptions, signal: AbortSignal): Promise<HealthState | undefined> {
  let state = o.initial;
  while (state.health !== 'unhealthy') {
    if (!(await pause(o.check.intervalMs, signal))) return undefined;
    const began = o.now();
    const probe = await runProbe(o, signal);
    if (!probe) return undefined;
    const next = afterProbe(o.check, state, probe, began - o.startedAtMs);
    if (next.health !== state.health && next.health !== 'unhealthy') await o.onChange(next);
    state = next;
  }
  return state;
}

/** One run of the check; undefined when aborted. A check the runtime could not run has failed. */
async function runProbe(o: HealthMonitorOptions, signal: AbortSignal): Promise<ProbeResult | undefined> {
  try {
    return await o.probe(signal);
  } catch (e) {
    if (signal.aborted) return undefined;
    return { passed: false, reason: e instanceof Error ? e.message : String(e) };
  }
}

/** False when `signal` aborted during the pause. */
async function pause(ms: number, signal: AbortSignal): Promise<boolean> {
  try {
    await sleep(ms, undefined, { signal });
    return true;
  } catch {
    return false;
  }
}

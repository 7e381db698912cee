import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { HealthCheck, HealthCheckTiming } from '@berth/core';
import { afterProbe, probeResult, STARTING, unhealthyMessage, type HealthState, type ProbeResult } from './health';

const check = (over: Partial<HealthCheckTiming> & { exec?: readonly string[] } = {}): HealthCheck => ({ exec: ['true'], intervalMs: 1000, timeoutMs: 2000, retries: 3, startPeriodMs: 0, ...over });
const pass: ProbeResult = { passed: true };
const fail = (reason = 'exited with code 1'): ProbeResult => ({ passed: false, reason });

/** Runs probes at the given times (ms since the task started) from STARTING. */
function run(c: HealthCheck, probes: readonly (readonly [ProbeResult, number])[]): HealthState[] {
  const states: HealthState[] = [];
  let state = STARTING;
  for (const [probe, at] of probes) states.push((state = afterProbe(c, state, probe, at)));
  return states;
}

const arbCheck = fc.record({
  exec: fc.constant(['true']),
  intervalMs: fc.integer({ min: 1, max: 10_000 }),
  timeoutMs: fc.integer({ min: 1, max: 10_000 }),
  retries: fc.integer({ min: 1, max: 10 }),
  startPeriodMs: fc.integer({ min: 0, max: 60_000 }),
});
/** Probe results at increasing times, as the monitor produces them. */
const arbProbes = fc
  .array(fc.tuple(fc.boolean(), fc.integer({ min: 1, max: 10_000 })), { maxLength: 40 })
  .map((steps) => {
    let at = 0;
    return steps.map(([ok, gap]) => [ok ? pass : fail(), (at += gap)] as const);
  });

describe('health decisions (Docker rules)', () => {
  it('is starting until the first pass, then healthy; retries failures in a row make it unhealthy', () => {
    const states = run(check(), [[fail(), 1000], [pass, 2000], [fail(), 3000], [fail(), 4000], [fail('connection refused'), 5000]]);
    expect(states.map((s) => s.health)).toEqual(['starting', 'healthy', 'healthy', 'healthy', 'unhealthy']);
    expect(unhealthyMessage(states.at(-1)!)).toBe('health check failed 3 times in a row: connection refused');
  });

  it('a pass always makes a task that is not unhealthy healthy, with no failures counted', () => {
    fc.assert(
      fc.property(arbCheck, arbProbes, fc.nat(), (c, probes, at) => {
        const before = run(c, probes).at(-1) ?? STARTING;
        const after = afterProbe(c, before, pass, at);
        expect(after).toEqual(before.health === 'unhealthy' ? before : { health: 'healthy', failingStreak: 0 });
      }),
    );
  });

  it('failures of a task never healthy do not count during the start period', () => {
    fc.assert(
      fc.property(arbCheck, fc.array(fc.nat(), { maxLength: 20 }), (c, offsets) => {
        const times = offsets.map((o) => (c.startPeriodMs === 0 ? undefined : o % c.startPeriodMs)).filter((t) => t !== undefined);
        expect(run(c, times.sort((a, b) => a - b).map((t) => [fail(), t] as const)).every((s) => s === STARTING)).toBe(true);
      }),
    );
  });

  it('a success during the start period makes the task healthy, and from then on failures count', () => {
    const c = check({ retries: 2, startPeriodMs: 60_000 });
    expect(run(c, [[fail(), 1000], [pass, 2000], [fail(), 3000], [fail(), 4000]]).map((s) => s.health)).toEqual(['starting', 'healthy', 'healthy', 'unhealthy']);
  });

  it('turns unhealthy exactly when retries counted failures come in a row, and stays so', () => {
    fc.assert(
      fc.property(arbCheck, arbProbes, (c, probes) => {
        const states = run(c, probes);
        let streak = 0;
        let everHealthy = false;
        let unhealthy = false;
        probes.forEach(([probe, at], i) => {
          if (!unhealthy) {
            if (probe.passed) [streak, everHealthy] = [0, true];
            else if (everHealthy || at >= c.startPeriodMs) streak++;
            unhealthy = streak >= c.retries;
          }
          expect(states[i]!.health === 'unhealthy').toBe(unhealthy);
          if (!unhealthy) expect(states[i]!.health).toBe(everHealthy ? 'healthy' : 'starting');
        });
      }),
    );
  });

  it('reads a run: exit 0 passes; a timeout, the output or the exit code says why it failed', () => {
    const c = check({ timeoutMs: 2000 });
    expect(probeResult(c, { exitCode: 0, timedOut: false, output: 'ok' })).toEqual(pass);
    expect(probeResult(c, { timedOut: true, output: 'partial' })).toEqual(fail('timed out after 2s'));
    expect(probeResult(c, { exitCode: 1, timedOut: false, output: 'wget: can\'t connect\nto remote host\n' })).toEqual(fail("wget: can't connect to remote host"));
    expect(probeResult(c, { exitCode: 7, timedOut: false, output: '' })).toEqual(fail('exited with code 7'));
    const long = probeResult(c, { exitCode: 1, timedOut: false, output: 'x'.repeat(4096) });
    expect(long.passed === false && long.reason.length).toBe(200);
  });
});

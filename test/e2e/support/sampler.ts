import { setTimeout as sleep } from 'node:timers/promises';

/** One reading of a probe: its value, or why the probe failed (a server being restarted, say). */
export interface Sample<T> {
  /** `Date.now()` when the probe started. */
  readonly at: number;
  readonly value?: T;
  readonly error?: string;
}

/**
 * Calls a probe in the background, one call at a time, starting one every `everyMs` (200 ms by
 * default; at once again when a call took longer), and keeps every reading with its time. Used
 * during a fault to assert what must hold at every moment ("never below 6", "never two copies"),
 * which a poll that waits for the end state cannot see. A failing probe is recorded, not thrown.
 *
 * Always `stop()` it (in a `finally`): stop is idempotent and returns every sample.
 */
export class Sampler<T> {
  private readonly taken: Sample<T>[] = [];
  private readonly abort = new AbortController();
  private readonly done: Promise<void>;

  private constructor(
    private readonly probe: () => Promise<T>,
    private readonly everyMs: number,
  ) {
    this.done = this.run(this.abort.signal);
  }

  static start<T>(probe: () => Promise<T>, opts: { everyMs?: number } = {}): Sampler<T> {
    return new Sampler(probe, opts.everyMs ?? 200);
  }

  /** The samples so far (a copy), oldest first. */
  get samples(): Sample<T>[] {
    return [...this.taken];
  }

  /** Ends the sampling (after the call in flight) and returns every sample. */
  async stop(): Promise<Sample<T>[]> {
    this.abort.abort();
    await this.done;
    return this.samples;
  }

  private async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      const at = Date.now();
      try {
        this.taken.push({ at, value: await this.probe() });
      } catch (e) {
        this.taken.push({ at, error: e instanceof Error ? e.message : String(e) });
      }
      const wait = at + this.everyMs - Date.now();
      if (wait > 0) await sleep(wait, undefined, { signal }).catch(() => undefined);
    }
  }
}

/** The samples that have a value, with it (failed probes left out). */
export function readings<T>(samples: readonly Sample<T>[]): { at: number; value: T }[] {
  return samples.filter((s): s is Sample<T> & { value: T } => s.value !== undefined).map((s) => ({ at: s.at, value: s.value }));
}

/** Seconds from `from` (epoch ms) to `to`, for printing; `-` when `to` is unknown. */
export function secondsBetween(from: number, to: number | undefined): string {
  return to === undefined ? '-' : ((to - from) / 1000).toFixed(1);
}

/** A one-line account of a sampling, for failure messages: how many, how many failed (and why), the last reading. */
export function describeSamples<T>(samples: readonly Sample<T>[]): string {
  const failed = samples.filter((s) => s.error !== undefined);
  const last = readings(samples).at(-1);
  const why = failed.length > 0 ? ` (first: ${failed[0]!.error})` : '';
  return `${samples.length} samples, ${failed.length} failed${why}; last reading: ${last ? JSON.stringify(last.value) : 'none'}`;
}

/**
 * Work done in steps: a generator that yields between pieces (documents, mostly) and returns the
 * result. The CLI runs it at once (runSync); the server runs it giving the event loop a turn
 * whenever a step took it past a time slice (runYielding), so one large apply cannot hold up
 * other requests, heartbeats or lease renewals for long.
 */
export type Steps<T> = Generator<void, T, void>;

/** Runs every step at once. */
export function runSync<T>(steps: Steps<T>): T {
  for (;;) {
    const step = steps.next();
    if (step.done) return step.value;
  }
}

/** Runs the steps, letting the event loop run other work after every `sliceMs` of them. */
export async function runYielding<T>(steps: Steps<T>, sliceMs = 10): Promise<T> {
  let since = performance.now();
  for (;;) {
    const step = steps.next();
    if (step.done) return step.value;
    if (performance.now() - since >= sliceMs) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      since = performance.now();
    }
  }
}

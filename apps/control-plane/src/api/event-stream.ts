import type { ClusterEvent } from '@berth/core';

/** A blank line goes out after this long without an event, so clients and proxies see liveness. */
export const EVENT_HEARTBEAT_MS = 15_000;

/**
 * The body of `GET /api/v1/events?watch=1` (application/x-ndjson): one event per line, and a blank
 * line whenever `heartbeatMs` pass without one. Ends when `events` ends (its watch was aborted).
 */
export async function* ndjsonWithHeartbeat(events: AsyncIterable<ClusterEvent>, heartbeatMs = EVENT_HEARTBEAT_MS): AsyncGenerator<string> {
  const it = events[Symbol.asyncIterator]();
  // One pending next() at a time, raced against the heartbeat timer: a beat never loses an event.
  let next = it.next();
  try {
    for (;;) {
      let timer: NodeJS.Timeout | undefined;
      const beat = new Promise<'beat'>((resolve) => (timer = setTimeout(() => resolve('beat'), heartbeatMs)));
      const result = await Promise.race([next, beat]).finally(() => clearTimeout(timer));
      if (result === 'beat') {
        yield '\n';
        continue;
      }
      if (result.done) return;
      yield `${JSON.stringify(result.value)}\n`;
      next = it.next();
    }
  } finally {
    await it.return?.();
  }
}

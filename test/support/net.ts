import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

/** GETs `url` until it answers, up to 100 tries `everyMs` apart (a server in a task needs a moment to listen). */
export async function httpGetEventually(url: string, everyMs = 100): Promise<string> {
  let last: unknown;
  for (let i = 0; i < 100; i++) {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
      return await res.text();
    } catch (e) {
      last = e;
      await sleep(everyMs);
    }
  }
  throw new Error(`${url} never answered: ${String(last)}`);
}

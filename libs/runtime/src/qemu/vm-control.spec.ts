import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { sendControl } from './vm-control';

describe('sendControl', () => {
  let dir = '';
  let server: Server | undefined;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-control-'));
  });
  afterEach(async () => {
    await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
    await rm(dir, { recursive: true, force: true });
  });

  /** A guest's control loop: empty lines, then `ok LINE` for each line, after `delayMs`; `first` is written on connecting. */
  async function guest(first: string, delayMs = 0): Promise<{ path: string; lines: string[] }> {
    const path = join(dir, 'control.sock');
    const lines: string[] = [];
    server = createServer({ allowHalfOpen: true }, (s: Socket) => {
      s.write(first);
      let text = '';
      s.on('data', (b) => {
        text += b.toString();
        for (let nl = text.indexOf('\n'); nl >= 0; nl = text.indexOf('\n')) {
          const line = text.slice(0, nl);
          text = text.slice(nl + 1);
          lines.push(line);
          setTimeout(() => s.write(`ok ${line}\n`), delayMs);
        }
      });
      s.on('end', () => s.end());
    });
    await new Promise<void>((resolve) => server!.listen(path, resolve));
    return { path, lines };
  }

  it('resolves once the guest answered that very line, not an earlier answer', async () => {
    const g = await guest('\nok kill 0 old\n', 50);
    const t0 = Date.now();
    await sendControl(g.path, 'resize 1 abc 50 120');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(45);
    expect(g.lines).toEqual(['resize 1 abc 50 120']);
  });

  it('gives up after its deadline when the guest does not answer', async () => {
    const path = join(dir, 'control.sock');
    server = createServer((s) => s.resume()); // never answers
    await new Promise<void>((resolve) => server!.listen(path, resolve));
    await expect(sendControl(path, 'kill 0 abc', 200)).rejects.toThrow('the guest did not carry out "kill 0 abc" on its control port');
  });
});

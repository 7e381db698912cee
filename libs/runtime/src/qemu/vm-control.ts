import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

/** How long a line on the control port may wait for the guest (it serves one host at a time). */
const CONTROL_TIMEOUT_MS = 15_000;

/**
 * Says `line` on the guest's control port and resolves once the guest has carried it out (it
 * answers `ok <line>`; empty lines mean nothing), then closes the host's end and waits for QEMU
 * to close its own. QEMU serves one connection at a time; the others wait in its backlog, and
 * retry when that is full.
 */
export async function sendControl(socket: string, line: string, timeoutMs = CONTROL_TIMEOUT_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await controlOnce(socket, line, deadline);
    } catch (e) {
      // EAGAIN: QEMU's backlog is full (ECONNREFUSED would mean no QEMU listens).
      if ((e as NodeJS.ErrnoException).code !== 'EAGAIN' || Date.now() >= deadline) throw e;
      await sleep(20);
    }
  }
}

function controlOnce(path: string, line: string, deadline: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const conn = connect({ path, allowHalfOpen: true });
    const answer = `ok ${line}`;
    let heard = '';
    let done = false;
    const timer = setTimeout(() => {
      conn.destroy();
      reject(new Error(`the guest did not carry out "${line}" on its control port`));
    }, Math.max(0, deadline - Date.now()));
    conn.setEncoding('latin1');
    conn.on('data', (text: string) => {
      heard += text;
      for (let nl = heard.indexOf('\n'); nl >= 0 && !done; nl = heard.indexOf('\n')) {
        done = heard.slice(0, nl) === answer;
        heard = heard.slice(nl + 1);
      }
      if (done) conn.end();
    });
    conn.once('connect', () => conn.write(`${line}\n`));
    conn.once('close', () => {
      clearTimeout(timer);
      if (done) resolve();
      else reject(new Error(`the guest's control port closed before "${line}" was carried out`));
    });
    conn.once('error', (e) => {
      clearTimeout(timer);
      conn.destroy();
      reject(e);
    });
  });
}

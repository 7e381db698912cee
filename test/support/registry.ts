import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/** The distribution's docker-registry on a free port, with its own temp storage. */
export interface LocalRegistry {
  /** `HOST:PORT` (HOST is 127.0.0.1 unless another listen address was asked for). */
  readonly address: string;
  /** Stops the registry (by PID) and removes its storage. Idempotent. */
  stop(): Promise<void>;
}

async function freePortOn(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, host, () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

/**
 * Starts a registry listening on `host` (default loopback). Agents in other network namespaces
 * need an address they can route to, such as a test bridge's, hence the option.
 */
export async function startRegistry(opts: { host?: string } = {}): Promise<LocalRegistry> {
  const host = opts.host ?? '127.0.0.1';
  const dir = await mkdtemp(join(tmpdir(), 'berth-registry-'));
  const port = await freePortOn(host);
  const address = `${host}:${port}`;
  const config = join(dir, 'config.yml');
  await writeFile(config, `version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: ${dir}/data\nhttp:\n  addr: ${address}\n`);
  const child: ChildProcess = spawn('docker-registry', ['serve', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null && child.pid) {
      const exited = new Promise((r) => child.once('exit', r));
      process.kill(child.pid, 'SIGTERM');
      await exited;
    }
    await rm(dir, { recursive: true, force: true });
  };
  for (let i = 0; i < 100; i++) {
    if (child.exitCode !== null) break;
    const ok = await fetch(`http://${address}/v2/`).then((r) => r.ok, () => false);
    if (ok) return { address, stop };
    await sleep(100);
  }
  await stop();
  throw new Error(`docker-registry did not come up on ${address}: ${stderr}`);
}

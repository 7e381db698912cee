import { readFile, writeFile, rename } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';

/** The loopback ports one embedded etcd listens on, recorded in `<dataDir>/etcd-ports.json`. */
export interface EtcdPorts {
  readonly client: number;
  readonly peer: number;
}

export const PORTS_FILE = 'etcd-ports.json';

/** Parses the ports file; undefined when it is missing or not two valid, distinct ports. */
export function parsePorts(text: string | undefined): EtcdPorts | undefined {
  if (text === undefined) return undefined;
  try {
    const v = JSON.parse(text) as Partial<EtcdPorts>;
    const ok = (p: unknown): p is number => typeof p === 'number' && Number.isInteger(p) && p > 0 && p < 65536;
    return ok(v.client) && ok(v.peer) && v.client !== v.peer ? { client: v.client, peer: v.peer } : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Keeps the recorded ports while both are free (clients configured with the old URL keep
 * working); otherwise takes fresh ones.
 */
export async function choosePorts(
  recorded: EtcdPorts | undefined,
  isFree: (port: number) => Promise<boolean>,
  freshPort: () => Promise<number>,
): Promise<EtcdPorts> {
  if (recorded && (await isFree(recorded.client)) && (await isFree(recorded.peer))) return recorded;
  const client = await freshPort();
  let peer = await freshPort();
  while (peer === client) peer = await freshPort();
  return { client, peer };
}

export function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen({ host: '127.0.0.1', port, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/** A port the kernel hands out as free right now on loopback. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0, exclusive: true }, () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Ports handed to embedded instances of this process, so two started at once never share one. */
const claimed = new Set<number>();

async function unclaimedFreePort(): Promise<number> {
  for (;;) {
    const port = await freePort();
    if (!claimed.has(port)) return port;
  }
}

/** Reads the recorded ports of `dataDir`, keeps them if free, else records fresh ones. */
export async function loadAndChoosePorts(dataDir: string): Promise<EtcdPorts> {
  const file = join(dataDir, PORTS_FILE);
  const recorded = parsePorts(await readFile(file, 'utf8').catch(() => undefined));
  const ports = await choosePorts(recorded, portIsFree, unclaimedFreePort);
  claimed.add(ports.client).add(ports.peer);
  if (ports !== recorded) {
    await writeFile(`${file}.tmp`, `${JSON.stringify(ports)}\n`);
    await rename(`${file}.tmp`, file);
  }
  return ports;
}

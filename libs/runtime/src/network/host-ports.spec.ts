import { createServer } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { HostPortInUseError } from './errors';
import { HostPortReservations, isHostPortFree } from './host-ports';

/** A port the kernel just handed out, so nothing else on this machine is using it. */
function ephemeralPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen({ port: 0, host: '0.0.0.0' }, () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

describe('host port reservations (real sockets)', () => {
  const nodes: HostPortReservations[] = [];
  const reservations = (node: string, releaseWaitMs?: number) => {
    const r = new HostPortReservations(node, releaseWaitMs === undefined ? {} : { releaseWaitMs });
    nodes.push(r);
    return r;
  };
  afterEach(async () => {
    for (const r of nodes) {
      for (const task of ['t1', 't2']) await r.release(task);
    }
  });

  it('holds a TCP and a UDP port for a task until it is released', async () => {
    const [tcp, udp] = [await ephemeralPort(), await ephemeralPort()];
    const node = reservations('n1');
    await node.reserve('t1', [
      { containerPort: 80, hostPort: tcp, protocol: 'tcp' },
      { containerPort: 53, hostPort: udp, protocol: 'udp' },
      { containerPort: 9000, protocol: 'tcp' },
    ]);
    expect(await isHostPortFree(tcp, 'tcp')).toBe(false);
    expect(await isHostPortFree(udp, 'udp')).toBe(false);
    await node.release('t1');
    await node.release('t1');
    expect(await isHostPortFree(tcp, 'tcp')).toBe(true);
    expect(await isHostPortFree(udp, 'udp')).toBe(true);
  });

  it('refuses a port another task keeps holding, naming port, protocol and node, and keeps nothing of the failed task', async () => {
    const [free, taken] = [await ephemeralPort(), await ephemeralPort()];
    const node = reservations('node-7', 50);
    await node.reserve('t1', [{ containerPort: 80, hostPort: taken, protocol: 'tcp' }]);
    const clash = node.reserve('t2', [
      { containerPort: 81, hostPort: free, protocol: 'tcp' },
      { containerPort: 80, hostPort: taken, protocol: 'tcp' },
    ]);
    await expect(clash).rejects.toBeInstanceOf(HostPortInUseError);
    await expect(clash).rejects.toThrow(`host port ${taken}/tcp is already in use on node node-7`);
    expect(await isHostPortFree(free, 'tcp')).toBe(true);
  });

  it('lets a task wait for a port the task it replaces is about to release', async () => {
    const port = await ephemeralPort();
    const node = reservations('n1', 10_000);
    await node.reserve('t1', [{ containerPort: 80, hostPort: port, protocol: 'tcp' }]);
    let got = false;
    const waiting = node.reserve('t2', [{ containerPort: 80, hostPort: port, protocol: 'tcp' }]).then(() => (got = true));
    await new Promise((r) => setTimeout(r, 50));
    expect(got).toBe(false);
    await node.release('t1');
    await waiting;
    expect(got).toBe(true);
    expect(await isHostPortFree(port, 'tcp')).toBe(false); // t2 holds it now
  });

  it('refuses a port held by a listener outside berth, even one bound to 127.0.0.1 only', async () => {
    const port = await ephemeralPort();
    const other = createServer();
    await new Promise<void>((resolve) => other.listen({ port, host: '127.0.0.1' }, resolve));
    try {
      expect(await isHostPortFree(port, 'tcp')).toBe(false);
      await expect(reservations('n1').reserve('t1', [{ containerPort: 80, hostPort: port, protocol: 'tcp' }])).rejects.toThrow(
        `host port ${port}/tcp is already in use on node n1`,
      );
    } finally {
      await new Promise<void>((resolve) => other.close(() => resolve()));
    }
  });

  it('treats a second reserve for the same task as a no-op', async () => {
    const port = await ephemeralPort();
    const node = reservations('n1');
    const ports = [{ containerPort: 80, hostPort: port, protocol: 'tcp' as const }];
    await node.reserve('t1', ports);
    await node.reserve('t1', ports);
    await node.release('t1');
    expect(await isHostPortFree(port, 'tcp')).toBe(true);
  });
});

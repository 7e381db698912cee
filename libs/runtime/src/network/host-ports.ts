import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer, type Server } from 'node:net';
import type { PortMapping, Protocol } from '@berth/core';
import { HostPortInUseError, NetworkSetupError } from './errors';

/** How long a task waits for a host port another task of the node is about to release. */
const RELEASE_WAIT_MS = 30_000;

const portKey = (port: number, protocol: Protocol): string => `${port}/${protocol}`;

/** A bound socket that keeps a host port for one task. */
interface Holder {
  readonly port: number;
  readonly protocol: Protocol;
  close(): Promise<void>;
}

/**
 * Host-port reservations of one node, held by the agent process itself: before portmap publishes
 * a port, the agent binds it on 0.0.0.0 and keeps the socket open until the task's network is
 * torn down. A host process already using the port makes the bind — and so the task's setUp —
 * fail, instead of portmap's DNAT rule silently stealing that process's traffic. The sockets
 * never see traffic meant for the task: DNAT rewrites it before it reaches a local socket.
 */
export class HostPortReservations {
  private readonly held = new Map<string, Holder[]>();
  /** Who holds each `port/protocol` here, and a promise that settles when it lets go. */
  private readonly owners = new Map<string, { readonly taskId: string; readonly released: Promise<void>; readonly resolve: () => void }>();

  /**
   * `releaseWaitMs`: how long a task waits for a port another task of this node still holds
   * (default 30 s). The scheduler never places two live tasks with one host port on a node, so a
   * port berth itself holds at prepare time belongs to a task on its way out — the one this task
   * replaces in a stop-first update — whose cleanup is about to release it.
   */
  constructor(
    private readonly nodeName: string,
    private readonly opts: { readonly releaseWaitMs?: number } = {},
  ) {}

  /**
   * Binds every hostPort of `ports` for `taskId`; all or nothing. A port another task of this node
   * holds is waited for (up to `releaseWaitMs`). Throws HostPortInUseError for the first port that
   * stays taken (releasing what it already bound). A no-op when the task already holds its ports.
   */
  async reserve(taskId: string, ports: readonly PortMapping[]): Promise<void> {
    if (this.held.has(taskId)) return;
    const holders: Holder[] = [];
    try {
      for (const p of ports) {
        if (p.hostPort === undefined) continue;
        await this.untilReleased(taskId, p.hostPort, p.protocol);
        holders.push(await this.bind(p.hostPort, p.protocol));
        this.own(taskId, p.hostPort, p.protocol);
      }
    } catch (e) {
      await this.letGo(taskId, holders);
      throw e;
    }
    this.held.set(taskId, holders);
  }

  /** Closes the task's sockets. Idempotent. */
  async release(taskId: string): Promise<void> {
    const holders = this.held.get(taskId) ?? [];
    this.held.delete(taskId);
    await this.letGo(taskId, holders);
  }

  private async letGo(taskId: string, holders: readonly Holder[]): Promise<void> {
    await Promise.all(holders.map((h) => h.close()));
    for (const h of holders) {
      const key = portKey(h.port, h.protocol);
      const owner = this.owners.get(key);
      if (owner?.taskId !== taskId) continue;
      this.owners.delete(key);
      owner.resolve();
    }
  }

  private own(taskId: string, port: number, protocol: Protocol): void {
    let resolve!: () => void;
    const released = new Promise<void>((r) => (resolve = r));
    this.owners.set(portKey(port, protocol), { taskId, released, resolve });
  }

  /**
   * Waits until no other task of this node holds any of `ports`' host ports (or the wait is over).
   * Call it before taking locks the holder's cleanup may need; reserve() waits again, briefly.
   */
  async whenFree(taskId: string, ports: readonly PortMapping[]): Promise<void> {
    for (const p of ports) if (p.hostPort !== undefined) await this.untilReleased(taskId, p.hostPort, p.protocol);
  }

  /** Waits until no other task of this node holds the port, or the wait is over. */
  private async untilReleased(taskId: string, port: number, protocol: Protocol): Promise<void> {
    const owner = this.owners.get(portKey(port, protocol));
    if (!owner || owner.taskId === taskId) return;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, this.opts.releaseWaitMs ?? RELEASE_WAIT_MS)));
    try {
      await Promise.race([owner.released, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  private async bind(port: number, protocol: Protocol): Promise<Holder> {
    try {
      return protocol === 'tcp' ? await holdTcp(port) : await holdUdp(port);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EADDRINUSE') throw new HostPortInUseError(port, protocol, this.nodeName);
      throw new NetworkSetupError(`cannot reserve host port ${port}/${protocol} on node ${this.nodeName}: ${(e as Error).message}`);
    }
  }
}

/**
 * Whether a host port could be published now: nothing on this host (berth or another process)
 * holds it on any IPv4 address. A snapshot — the answer may be stale by the time it is used;
 * setUp is what actually reserves.
 */
export async function isHostPortFree(port: number, protocol: Protocol): Promise<boolean> {
  try {
    const holder = protocol === 'tcp' ? await holdTcp(port) : await holdUdp(port);
    await holder.close();
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EADDRINUSE') return false;
    throw e;
  }
}

function holdTcp(port: number): Promise<Holder> {
  return new Promise((resolve, reject) => {
    const server: Server = createServer((socket) => socket.destroy());
    server.once('error', reject);
    server.listen({ port, host: '0.0.0.0', exclusive: true }, () => {
      // From here on the socket only holds the port; an error on it must not crash the agent.
      server.off('error', reject).on('error', () => undefined);
      // A reservation must not keep the agent's event loop alive on shutdown.
      server.unref();
      resolve({ port, protocol: 'tcp', close: () => new Promise<void>((done) => server.close(() => done())) });
    });
  });
}

function holdUdp(port: number): Promise<Holder> {
  return new Promise((resolve, reject) => {
    const socket: UdpSocket = createSocket({ type: 'udp4', reuseAddr: false });
    socket.once('error', reject);
    socket.bind({ port, address: '0.0.0.0', exclusive: true }, () => {
      socket.off('error', reject).on('error', () => undefined);
      socket.unref();
      resolve({ port, protocol: 'udp', close: () => new Promise<void>((done) => socket.close(() => done())) });
    });
  });
}

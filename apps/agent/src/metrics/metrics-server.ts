import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DomainError } from '@berth/core';
import type { Registry } from 'prom-client';

/** The metrics endpoint could not listen on its address; `addressInUse` when another process holds it. */
export class MetricsListenError extends DomainError {
  readonly code = 'UNAVAILABLE';
  constructor(
    readonly address: string,
    readonly addressInUse: boolean,
    reason: string,
  ) {
    super(`cannot serve agent metrics on ${address}: ${reason}`);
  }
}

/**
 * The agent's Prometheus endpoint: `GET /metrics` answers the registry's text exposition, any
 * other path 404. Nothing else is served, so it needs no framework.
 */
export class MetricsServer {
  private readonly server: Server;

  constructor(private readonly registry: Registry) {
    this.server = createServer((req, res) => void this.answer(req, res));
  }

  /**
   * Listens on `host:port` (port 0: a free one). Resolves to the address as bound, `host:port`
   * with an IPv6 host in brackets. Throws MetricsListenError when the address cannot be bound.
   */
  async listen(host: string, port: number): Promise<string> {
    const asked = formatAddress(host, port);
    await new Promise<void>((resolve, reject) => {
      const onError = (e: NodeJS.ErrnoException): void => reject(listenError(asked, e));
      this.server.once('error', onError);
      this.server.listen(port, host, () => {
        this.server.off('error', onError);
        resolve();
      });
    });
    const bound = this.server.address() as AddressInfo;
    return formatAddress(bound.address, bound.port);
  }

  /** Stops listening; a scrape under way is answered first. Idempotent. */
  async close(): Promise<void> {
    if (!this.server.listening) return;
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async answer(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/metrics') return send(res, 404, 'not found: metrics are served at /metrics\n');
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      return send(res, 405, `method ${req.method} not allowed: use GET\n`);
    }
    try {
      const text = await this.registry.metrics();
      res.writeHead(200, { 'Content-Type': this.registry.contentType });
      res.end(req.method === 'HEAD' ? undefined : text);
    } catch (e) {
      send(res, 500, `collecting metrics failed: ${e instanceof Error ? e.message : String(e)}\n`);
    }
  }
}

function send(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8' });
  res.end(text);
}

function listenError(address: string, e: NodeJS.ErrnoException): MetricsListenError {
  if (e.code === 'EADDRINUSE') return new MetricsListenError(address, true, 'address already in use (agents on one machine need their own metrics port)');
  if (e.code === 'EADDRNOTAVAIL') return new MetricsListenError(address, false, 'no such local address');
  if (e.code === 'EACCES') return new MetricsListenError(address, false, 'permission denied');
  return new MetricsListenError(address, false, e.message);
}

/** `host:port`, with an IPv6 host in brackets. */
function formatAddress(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

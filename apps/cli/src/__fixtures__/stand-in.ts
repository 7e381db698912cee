import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { RawStdio } from '../context';
import type { CliEnvironment } from '../environment';
import { runCli } from '../program';

/** Answers one request; `body` is the parsed JSON request body, if any. */
export type Handler = (req: IncomingMessage, res: ServerResponse, body: unknown) => void;

/**
 * A stand-in for the control plane: routes `METHOD /path?query` to handlers the test sets, records
 * every request, and answers 500 for anything unexpected.
 */
export class StandIn {
  readonly requests: string[] = [];
  readonly bodies: unknown[] = [];
  private routes = new Map<string, Handler>();
  private server?: Server;
  url = '';

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const key = `${req.method} ${req.url}`;
      this.requests.push(key);
      let text = '';
      req.on('data', (d: Buffer) => (text += d.toString()));
      req.on('end', () => {
        const body: unknown = text ? JSON.parse(text) : undefined;
        if (body !== undefined) this.bodies.push(body);
        const handler = this.routes.get(key) ?? json(500, { code: 'INTERNAL', detail: `unexpected ${key}` });
        handler(req, res, body);
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** Sets the handler of `METHOD /path?query`, replacing an earlier one. */
  on(key: string, handler: Handler): this {
    this.routes.set(key, handler);
    return this;
  }

  reset(): void {
    this.routes = new Map();
    this.requests.length = 0;
    this.bodies.length = 0;
  }

  count(key: string): number {
    return this.requests.filter((r) => r === key).length;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise((resolve) => this.server?.close(resolve));
  }
}

/** A JSON answer (problem+json for errors). */
export function json(status: number, body: unknown): Handler {
  return (_req, res) => {
    res.writeHead(status, { 'content-type': status >= 400 ? 'application/problem+json' : 'application/json' });
    res.end(JSON.stringify(body));
  };
}

/** Answers from a script, one entry per request; the last one repeats. */
export function sequence(...handlers: Handler[]): Handler {
  let i = 0;
  return (req, res, body) => handlers[Math.min(i++, handlers.length - 1)]!(req, res, body);
}

export const testEnv = (over: Partial<CliEnvironment> = {}): CliEnvironment =>
  Object.freeze({ configPath: '/nonexistent/.berth/config.json', home: '/nonexistent', isRoot: false, hostname: 'box', version: '0.0.0', ...over });

export interface Run {
  code: number;
  out: string;
  err: string;
  /** Everything written with errRaw, as written (progress on a TTY). */
  raw: string;
}

export interface RunOptions {
  stdin?: string;
  interruption?: AbortSignal;
  tty?: boolean;
  env?: Partial<CliEnvironment>;
  /** Leave out the leading `--server URL`. */
  noServer?: boolean;
  /** Receives every stdout line as it is printed. */
  onOut?: (line: string) => void;
  /** The byte streams `exec` relays (default: the test process's own). */
  rawStdio?: RawStdio;
}

/** Runs `berth --server URL ARGS…` in-process and collects what it printed. */
export async function berth(server: string, args: string[], o: RunOptions = {}): Promise<Run> {
  const out: string[] = [];
  const err: string[] = [];
  let raw = '';
  const io = {
    out: (t: string) => {
      out.push(t);
      o.onOut?.(t);
    },
    err: (t: string) => err.push(t),
    errRaw: (t: string) => (raw += t),
    stderrIsTty: o.tty ?? false,
    interruption: () => o.interruption ?? new AbortController().signal,
    readStdin: async () => o.stdin ?? '',
    now: () => new Date(),
    ...(o.rawStdio ? { rawStdio: () => o.rawStdio! } : {}),
  };
  const code = await runCli(['node', 'berth', ...(o.noServer ? [] : ['--server', server]), ...args], testEnv(o.env), io);
  return { code, out: out.join('\n'), err: err.join('\n'), raw };
}

import type { IncomingMessage } from 'node:http';
import { Agent, request } from 'node:https';
import { readFile } from 'node:fs/promises';
import { parse } from 'yaml';

/**
 * How a test reaches the control plane's API: its https URL, the cluster CA that issued its
 * certificate (PEM) and, for everything but /healthz and /readyz, a bearer token. The shape of
 * `admin.yaml` and of the CLI's config file (`server`, `ca`, `token`).
 */
export interface ApiAccess {
  readonly server: string;
  readonly ca: string;
  readonly token?: string;
}

/** What a request may set; `token: null` sends none even when the access has one. */
export interface ApiRequestInit {
  readonly method?: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string | Buffer;
  readonly token?: string | null;
  readonly signal?: AbortSignal;
  /** Aborts the request (and reading its body) after this long (default 30 s; 0: never). */
  readonly timeoutMs?: number;
}

/** An answer read to its end (what `fetch` gives, for the parts the tests read). */
export interface ApiResponse {
  readonly status: number;
  readonly ok: boolean;
  readonly headers: Headers;
  text(): Promise<string>;
  json<T = unknown>(): Promise<T>;
  buffer(): Promise<Buffer>;
}

/** An answer whose body is read as it comes (log follow, event watch). `close()` ends the request. */
export interface ApiStream {
  readonly status: number;
  readonly headers: Headers;
  /** The next chunk of the body as text; undefined once it has ended. */
  read(): Promise<string | undefined>;
  close(): void;
}

/** `admin.yaml` (or a CLI config) read into an ApiAccess; throws naming the file when a field is missing. */
export async function readAdminConfig(file: string): Promise<ApiAccess> {
  const doc = parse(await readFile(file, 'utf8')) as Partial<Record<keyof ApiAccess, unknown>> | null;
  const missing = (['server', 'ca', 'token'] as const).filter((k) => typeof doc?.[k] !== 'string' || doc[k] === '');
  if (missing.length > 0) throw new Error(`${file}: no ${missing.join(', ')} (got ${JSON.stringify(doc)})`);
  const access = { server: doc!.server as string, ca: doc!.ca as string, token: doc!.token as string };
  if (!access.server.startsWith('https://')) throw new Error(`${file}: server ${access.server} is not an https URL`);
  if (!access.ca.includes('-----BEGIN CERTIFICATE-----')) throw new Error(`${file}: ca is not a PEM certificate`);
  return access;
}

/** The same access with another token (or none). */
export function withToken(access: ApiAccess, token: string | undefined): ApiAccess {
  return { server: access.server, ca: access.ca, ...(token === undefined ? {} : { token }) };
}

// One keep-alive agent per CA, as a long-lived client (Prometheus, the CLI in a loop) would use.
const agents = new Map<string, Agent>();
const agentFor = (ca: string): Agent => {
  let agent = agents.get(ca);
  if (!agent) agents.set(ca, (agent = new Agent({ ca, keepAlive: true })));
  return agent;
};

/** `server` + `path`, or `path` itself when it is a whole URL; anything but https is refused. */
function urlOf(access: ApiAccess, path: string): URL {
  const url = /^[a-z]+:\/\//i.test(path) ? new URL(path) : new URL(access.server.replace(/\/+$/, '') + path);
  if (url.protocol !== 'https:') throw new Error(`${url.href}: the berth API is https only (a test must not talk to it in plaintext)`);
  return url;
}

function headersOf(res: IncomingMessage): Headers {
  const h = new Headers();
  for (const [k, v] of Object.entries(res.headers)) {
    if (Array.isArray(v)) for (const x of v) h.append(k, x);
    else if (v !== undefined) h.set(k, v);
  }
  return h;
}

function signalOf(init: ApiRequestInit): AbortSignal | undefined {
  const timeoutMs = init.timeoutMs ?? 30_000;
  const signals = [...(init.signal ? [init.signal] : []), ...(timeoutMs > 0 ? [AbortSignal.timeout(timeoutMs)] : [])];
  return signals.length === 0 ? undefined : AbortSignal.any(signals);
}

/** Sends one request; resolves with the response head (its body still to read). */
function send(access: ApiAccess, path: string, init: ApiRequestInit, signal: AbortSignal | undefined, retry = true): Promise<IncomingMessage> {
  const url = urlOf(access, path);
  const token = init.token === null ? undefined : (init.token ?? access.token);
  const headers: Record<string, string> = { ...(token ? { authorization: `Bearer ${token}` } : {}), ...init.headers };
  if (init.body !== undefined) headers['content-length'] = String(Buffer.byteLength(init.body));
  return new Promise((resolve, reject) => {
    const req = request(url, { method: init.method ?? 'GET', headers, agent: agentFor(access.ca), ...(signal ? { signal } : {}) });
    let answered = false;
    req.on('response', (res: IncomingMessage) => {
      answered = true;
      resolve(res);
    });
    req.on('error', (e: NodeJS.ErrnoException) => {
      // A kept-alive socket the server closed meanwhile (a restart): Node's documented retry.
      if (!answered && retry && req.reusedSocket && e.code === 'ECONNRESET') send(access, path, init, signal, false).then(resolve, reject);
      else reject(e);
    });
    req.end(init.body);
  });
}

/**
 * A `fetch` for the berth API: https with the access's CA, `Authorization: Bearer` with its token
 * (or `init.token`), the body read to its end. `path` is a path under `access.server` or a whole
 * https URL (another replica).
 */
export async function apiFetch(access: ApiAccess, path: string, init: ApiRequestInit = {}): Promise<ApiResponse> {
  const signal = signalOf(init);
  const res = await send(access, path, init, signal);
  const chunks: Buffer[] = [];
  for await (const chunk of res) chunks.push(chunk as Buffer);
  const body = Buffer.concat(chunks);
  const status = res.statusCode ?? 0;
  return {
    status,
    ok: status >= 200 && status < 300,
    headers: headersOf(res),
    text: () => Promise.resolve(body.toString('utf8')),
    json: <T>() => Promise.resolve(JSON.parse(body.toString('utf8')) as T),
    buffer: () => Promise.resolve(body),
  };
}

/** GET (or `init.method`) `path` as JSON; throws with the status and body unless it is 2xx. */
export async function apiJson<T>(access: ApiAccess, path: string, init: ApiRequestInit = {}): Promise<T> {
  const res = await apiFetch(access, path, init);
  if (!res.ok) throw new Error(`${init.method ?? 'GET'} ${path}: ${res.status} ${await res.text()}`);
  return res.json<T>();
}

/** `path` with its body read chunk by chunk; no timeout unless `init.timeoutMs` sets one. */
export async function apiStream(access: ApiAccess, path: string, init: ApiRequestInit = {}): Promise<ApiStream> {
  const ctl = new AbortController();
  const signal = signalOf({ ...init, timeoutMs: init.timeoutMs ?? 0, signal: init.signal ? AbortSignal.any([init.signal, ctl.signal]) : ctl.signal });
  const res = await send(access, path, init, signal);
  res.setEncoding('utf8');
  const chunks = res[Symbol.asyncIterator]() as AsyncIterator<string>;
  return {
    status: res.statusCode ?? 0,
    headers: headersOf(res),
    read: async () => {
      const next = await chunks.next().catch((e: unknown) => {
        if (ctl.signal.aborted) return { done: true as const, value: undefined };
        throw e;
      });
      return next.done ? undefined : next.value;
    },
    close: () => {
      ctl.abort();
      res.destroy();
    },
  };
}

/** A new API token (`POST /api/v1/tokens`, which needs an admin token): the secret and its id. */
export async function createToken(access: ApiAccess, role: 'viewer' | 'deployer' | 'admin' | 'join', description?: string): Promise<{ token: string; id: string }> {
  const res = await apiFetch(access, '/api/v1/tokens', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ role, ...(description ? { description } : {}) }),
  });
  if (res.status !== 201) throw new Error(`POST /api/v1/tokens (${role}): ${res.status} ${await res.text()}`);
  return res.json<{ token: string; id: string }>();
}

import { request as httpRequest, type ClientRequest, type IncomingMessage, type OutgoingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { EXEC_UPGRADE, execRequestQuery, type ExecRequest } from '@berth/api';
import type { ManifestSource, NodeTopView, NodeView, PlanView, RevisionView, ServiceView, TaskTopView, TaskView, TopView } from '@berth/api';
import { type ClusterEvent, formatDuration, type NodeAvailability } from '@berth/core';
import { ApiError, UnreachableError, UntrustedServerError } from '../errors';
import type { CreatedToken, TokenView } from '@berth/api';
import type { TokenRole } from '@berth/core';
import { problemToError } from './problem';

/** One entry of `POST /api/v1/apply`'s answer. */
export interface ApplyItem {
  readonly name: string;
  readonly action: 'created' | 'configured' | 'unchanged';
  readonly service: ServiceView;
}

/** One entry of `POST /api/v1/diff`'s answer; `diff` is empty when nothing would change. */
export interface DiffItem {
  readonly name: string;
  readonly action: 'created' | 'configured' | 'unchanged';
  readonly diff: string;
}

export const DEFAULT_TIMEOUT_MS = 30_000;

/**
 * A watched event stream silent for this long is taken for lost: the server writes a blank line
 * every 15 s while idle, so three missed heartbeats mean a dead connection (a proxy, a partition).
 */
export const EVENT_IDLE_TIMEOUT_MS = 45_000;

/** Which events `GET /api/v1/events` answers with (docs/api.md); `since` a duration or RFC 3339 time. */
export interface EventsQuery {
  readonly service?: string;
  readonly node?: string;
  readonly since?: string;
  /** Only events after this event id. */
  readonly after?: string;
}

export interface WatchEventsOptions {
  readonly signal: AbortSignal;
  /** Called once the server has accepted the watch (its headers are in). */
  readonly onOpen?: () => void;
  readonly idleTimeoutMs?: number;
}

/** Where and how to reach the control plane: what the config file, `--server` and `BERTH_SERVER` say. */
export interface BerthClientOptions {
  /** `http(s)://host:port`, no trailing slash. */
  readonly server: string;
  /** PEM: with an https server, the only CA trusted (the cluster CA); absent, the system's CAs. */
  readonly ca?: string;
  /** Sent as `Authorization: Bearer TOKEN` with every request. */
  readonly token?: string;
  /** The config file `ca` and `token` came from, named when the server refuses the token. */
  readonly configFile?: string;
  /** The deadline of each request (for streams: of their headers). */
  readonly timeoutMs?: number;
}

/**
 * Client of the control plane's HTTP API (docs/api.md). Every request has a deadline and carries
 * the token. Errors: ApiError for an error answer (code and issues from problem+json; a refused
 * token names the config file it came from), UntrustedServerError for a TLS certificate not to
 * trust, UnreachableError when the server cannot be reached or does not answer in time.
 */
export class BerthClient {
  readonly server: string;
  private readonly ca?: string;
  private readonly token?: string;
  private readonly configFile?: string;
  private readonly timeoutMs: number;

  constructor(opts: BerthClientOptions) {
    this.server = opts.server;
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    if (opts.ca !== undefined) this.ca = opts.ca;
    if (opts.token !== undefined) this.token = opts.token;
    if (opts.configFile !== undefined) this.configFile = opts.configFile;
  }

  listServices(): Promise<ServiceView[]> {
    return this.request('GET', '/api/v1/services');
  }

  getService(name: string): Promise<ServiceView> {
    return this.request('GET', `/api/v1/services/${encodeURIComponent(name)}`);
  }

  /** `warnings`: accepted, but worth saying (an image that could not be pinned to a digest). */
  async apply(sources: readonly ManifestSource[], opts: { dryRun?: boolean } = {}): Promise<{ items: ApplyItem[]; warnings: string[] }> {
    const query = opts.dryRun ? '?dryRun=true' : '';
    const answer = await this.request<{ items: ApplyItem[]; warnings?: string[] }>('POST', `/api/v1/apply${query}`, { sources });
    return { items: answer.items, warnings: answer.warnings ?? [] };
  }

  async diff(sources: readonly ManifestSource[]): Promise<DiffItem[]> {
    const answer = await this.request<{ items: DiffItem[] }>('POST', '/api/v1/diff', { sources });
    return answer.items;
  }

  deleteService(name: string): Promise<ServiceView> {
    return this.request('DELETE', `/api/v1/services/${encodeURIComponent(name)}`);
  }

  scaleService(name: string, replicas: number): Promise<ServiceView> {
    return this.request('PUT', `/api/v1/services/${encodeURIComponent(name)}/scale`, { replicas });
  }

  /** The revision history of a service (the last 10), oldest first. */
  async listRevisions(name: string): Promise<RevisionView[]> {
    const answer = await this.request<{ items: RevisionView[] }>('GET', `/api/v1/services/${encodeURIComponent(name)}/revisions`);
    return answer.items;
  }

  /**
   * Makes an earlier revision's spec current again, as a new revision: `toRevision`, or by default
   * the revision before the current rollout. NOT_FOUND when that revision is not in the history.
   */
  undoRollout(name: string, toRevision?: number): Promise<ServiceView> {
    return this.request('POST', `/api/v1/services/${encodeURIComponent(name)}/rollout/undo`, toRevision === undefined ? {} : { toRevision });
  }

  /** `pause` stops replacing tasks, `resume` continues, `restart` replaces every task (a new revision). */
  controlRollout(name: string, action: 'pause' | 'resume' | 'restart'): Promise<ServiceView> {
    return this.request('POST', `/api/v1/services/${encodeURIComponent(name)}/rollout/${action}`);
  }

  listTasks(service?: string): Promise<TaskView[]> {
    const query = service === undefined ? '' : `?service=${encodeURIComponent(service)}`;
    return this.request('GET', `/api/v1/tasks${query}`);
  }

  getTask(id: string): Promise<TaskView> {
    return this.request('GET', `/api/v1/tasks/${encodeURIComponent(id)}`);
  }

  listNodes(): Promise<NodeView[]> {
    return this.request('GET', '/api/v1/nodes');
  }

  getNode(name: string): Promise<NodeView> {
    return this.request('GET', `/api/v1/nodes/${encodeURIComponent(name)}`);
  }

  setNodeAvailability(name: string, availability: NodeAvailability): Promise<NodeView> {
    return this.request('PUT', `/api/v1/nodes/${encodeURIComponent(name)}/availability`, { availability });
  }

  /** What losing these nodes would do to their tasks (the scheduler's simulation; nothing is written). */
  planWithout(nodes: readonly string[]): Promise<PlanView> {
    return this.request('GET', `/api/v1/plan?without=${nodes.map(encodeURIComponent).join(',')}`);
  }

  /** Sets and removes the operator's labels of a node. */
  setNodeLabels(name: string, change: { set: Record<string, string>; remove: string[] }): Promise<NodeView> {
    return this.request('PATCH', `/api/v1/nodes/${encodeURIComponent(name)}/labels`, change);
  }

  /** Forgets a node (a ready one only with `force`); answers the node as it was. */
  removeNode(name: string, force: boolean): Promise<NodeView> {
    return this.request('DELETE', `/api/v1/nodes/${encodeURIComponent(name)}${force ? '?force=true' : ''}`);
  }

  /**
   * Streams a task's log lines as the server sends them (`<time> <stream> <text>`, no newline).
   * Without `follow` it ends with the log; with it, when `signal` aborts (then quietly) or the
   * server ends the stream. The deadline covers only the answer's headers: a followed log may be
   * silent for hours.
   */
  async *taskLogs(id: string, opts: { follow: boolean; tail?: number; console?: boolean; signal: AbortSignal }): AsyncGenerator<string> {
    const query = new URLSearchParams({ follow: String(opts.follow), ...(opts.tail === undefined ? {} : { tail: String(opts.tail) }), ...(opts.console ? { console: 'true' } : {}) });
    const path = `/api/v1/tasks/${encodeURIComponent(id)}/logs?${query.toString()}`;
    // One controller for the whole exchange: it ends the answer's body too, so the header deadline
    // is a timer cleared once the headers are in.
    const request = new AbortController();
    const onCancel = () => request.abort();
    opts.signal.addEventListener('abort', onCancel);
    try {
      const response = await this.openStream(path, 'text/plain, application/problem+json', request, opts.signal);
      if (!response) return;
      if (!isOk(response)) throw this.refusal(response.statusCode ?? 500, await readBody(response));
      yield* readLines(this.server, response, opts.signal);
    } finally {
      opts.signal.removeEventListener('abort', onCancel);
      request.abort(); // ends the request when the consumer stops early
    }
  }

  /**
   * Starts a command in a task (`berth exec`): the connection, upgraded to the exec stream of
   * docs/api.md, and the id of the task it runs in. Refusals (unknown task, not running, node
   * not connected) throw ApiError before any byte of the command's.
   */
  openExec(ref: string, exec: ExecRequest): Promise<{ socket: Socket; head: Buffer; taskId: string }> {
    return new Promise((resolve, reject) => {
      const req = this.open('POST', `/api/v1/tasks/${encodeURIComponent(ref)}/exec?${execRequestQuery(exec)}`, {
        connection: 'Upgrade',
        upgrade: EXEC_UPGRADE,
        accept: 'application/problem+json',
      });
      let timedOut = false;
      const deadline = setTimeout(() => {
        timedOut = true;
        req.destroy(new Error('timed out'));
      }, this.timeoutMs);
      req.on('upgrade', (res: IncomingMessage, socket: Socket, head: Buffer) => {
        clearTimeout(deadline);
        resolve({ socket, head, taskId: String(res.headers['berth-task'] ?? ref) });
      });
      req.on('response', (res: IncomingMessage) => {
        clearTimeout(deadline);
        readBody(res).then(
          (text) => reject(this.refusal(res.statusCode ?? 500, text)),
          (e: Error) => reject(this.failure(e, false)),
        );
      });
      req.on('error', (e: Error) => {
        clearTimeout(deadline);
        reject(this.failure(e, timedOut));
      });
      req.end();
    });
  }

  /** CPU and memory of every node that exports metrics, sampled by the control plane over about a second. */
  topNodes(): Promise<TopView<NodeTopView>> {
    return this.request('GET', '/api/v1/top/nodes');
  }

  /** As topNodes, per task; empty filters are left out. */
  topTasks(filter: { service?: string; node?: string } = {}): Promise<TopView<TaskTopView>> {
    const query = new URLSearchParams(Object.entries(filter).filter((e): e is [string, string] => !!e[1])).toString();
    return this.request('GET', `/api/v1/top/tasks${query ? `?${query}` : ''}`);
  }

  /** The retained events the query asks for, oldest first. */
  async listEvents(query: EventsQuery = {}): Promise<ClusterEvent[]> {
    const answer = await this.request<{ items: ClusterEvent[] }>('GET', eventsPath(query, false));
    return answer.items;
  }

  /**
   * Follows the event log: the retained events after `query.after` (all without it), then each
   * new one as it is committed. Ends quietly when `signal` aborts or the server ends the stream (it
   * shuts down); a connection lost or silent for `idleTimeoutMs` (no heartbeat either) is
   * UnreachableError. Blank lines (heartbeats) are skipped.
   */
  async *watchEvents(query: EventsQuery, opts: WatchEventsOptions): AsyncGenerator<ClusterEvent> {
    const request = new AbortController();
    const onCancel = () => request.abort();
    opts.signal.addEventListener('abort', onCancel);
    let idle: NodeJS.Timeout | undefined;
    let silent = false;
    const idleMs = opts.idleTimeoutMs ?? EVENT_IDLE_TIMEOUT_MS;
    const arm = () => {
      clearTimeout(idle);
      idle = setTimeout(() => {
        silent = true;
        request.abort();
      }, idleMs);
    };
    try {
      const response = await this.openStream(eventsPath(query, true), 'application/x-ndjson, application/problem+json', request, opts.signal);
      if (!response) return;
      if (!isOk(response)) throw this.refusal(response.statusCode ?? 500, await readBody(response));
      opts.onOpen?.();
      arm();
      try {
        for await (const line of readLines(this.server, response, opts.signal)) {
          arm();
          if (line.trim() !== '') yield parseEvent(line);
        }
      } catch (e) {
        if (silent) throw new UnreachableError(this.server, `nothing heard for ${formatDuration(idleMs)}, not even a heartbeat`);
        throw e;
      }
    } finally {
      clearTimeout(idle);
      opts.signal.removeEventListener('abort', onCancel);
      request.abort();
    }
  }

  /** Creates a token (`POST /api/v1/tokens`); the answer holds its secret, shown this once. */
  createToken(body: { role: TokenRole; ttl?: string; description?: string }): Promise<CreatedToken> {
    return this.request('POST', '/api/v1/tokens', body);
  }

  /** The tokens, never their secrets. */
  async listTokens(): Promise<TokenView[]> {
    return (await this.request<{ items: TokenView[] }>('GET', '/api/v1/tokens')).items;
  }

  /** Revokes a token by its id; answers the token as it now is. */
  revokeToken(id: string): Promise<TokenView> {
    return this.request('DELETE', `/api/v1/tokens/${encodeURIComponent(id)}`);
  }

  /** Starts a request to the server with the token, and for https the CA to trust. */
  private open(method: string, path: string, headers: OutgoingHttpHeaders, signal?: AbortSignal): ClientRequest {
    const url = new URL(`${this.server}${path}`);
    const tls = url.protocol === 'https:';
    const send = tls ? httpsRequest : httpRequest;
    return send(url, {
      method,
      headers: { ...headers, ...(this.token === undefined ? {} : { authorization: `Bearer ${this.token}` }) },
      ...(tls && this.ca !== undefined ? { ca: this.ca } : {}),
      ...(signal ? { signal } : {}),
    });
  }

  /**
   * The answer's headers within the deadline, or undefined when `cancel` aborted the request first.
   * Aborting `request` later ends the answer's body too.
   */
  private openStream(path: string, accept: string, request: AbortController, cancel: AbortSignal): Promise<IncomingMessage | undefined> {
    return new Promise((resolve, reject) => {
      if (cancel.aborted) return resolve(undefined);
      let timedOut = false;
      const deadline = setTimeout(() => {
        timedOut = true;
        request.abort();
      }, this.timeoutMs);
      const req = this.open('GET', path, { accept }, request.signal);
      req.on('response', (res: IncomingMessage) => {
        clearTimeout(deadline);
        resolve(res);
      });
      req.on('error', (e: Error) => {
        clearTimeout(deadline);
        if (cancel.aborted && !timedOut) resolve(undefined);
        else reject(this.failure(e, timedOut));
      });
      req.end();
    });
  }

  private async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const { status, text } = await this.exchange(method, path, body === undefined ? undefined : JSON.stringify(body));
    if (status < 200 || status > 299) throw this.refusal(status, text);
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new ApiError('INTERNAL', status, 'Bad answer', `the server answered ${method} ${path} with a body that is not JSON`, []);
    }
  }

  /** One request and its whole answer; the deadline covers the body too (a server stalling mid-answer is as unreachable). */
  private exchange(method: string, path: string, payload: string | undefined): Promise<{ status: number; text: string }> {
    return new Promise((resolve, reject) => {
      const headers: OutgoingHttpHeaders = { accept: 'application/json' };
      if (payload !== undefined) {
        headers['content-type'] = 'application/json';
        headers['content-length'] = Buffer.byteLength(payload);
      }
      const req = this.open(method, path, headers);
      let timedOut = false;
      const deadline = setTimeout(() => {
        timedOut = true;
        req.destroy(new Error('timed out'));
      }, this.timeoutMs);
      const fail = (e: Error) => {
        clearTimeout(deadline);
        reject(this.failure(e, timedOut));
      };
      req.on('error', fail);
      req.on('response', (res: IncomingMessage) => {
        readBody(res).then((text) => {
          clearTimeout(deadline);
          resolve({ status: res.statusCode ?? 500, text });
        }, fail);
      });
      req.end(payload);
    });
  }

  /** An error answer as ApiError; a refused token (401) is said so, naming the config file it came from. */
  private refusal(status: number, body: string): ApiError {
    const e = problemToError(status, body);
    if (e.code !== 'UNAUTHENTICATED') return e;
    const file = this.configFile;
    let message: string;
    if (this.token !== undefined) {
      const id = this.token.split('.')[0];
      message = `the server refused the token from ${file ?? 'the config file'} (token ${id} is unknown, expired or revoked)`;
    } else if (file !== undefined) {
      message = `the server wants a token, and ${file} has none (use --config FILE or BERTH_CONFIG=FILE with the admin.yaml "berth server" wrote in its data dir, or a config with a token from "berth token create")`;
    } else {
      message = `the server wants a token (${e.message})`;
    }
    return new ApiError(e.code, e.status, e.title, message, e.issues);
  }

  /** Why a request got no answer: a certificate not to trust, a deadline, or the connection. */
  private failure(e: Error, timedOut: boolean): UnreachableError | UntrustedServerError {
    if (timedOut) return new UnreachableError(this.server, 'timed out');
    const code = (e as NodeJS.ErrnoException).code;
    const untrusted = code === undefined ? undefined : this.untrusted(code, e.message);
    if (untrusted) return untrusted;
    return new UnreachableError(this.server, describeFailure(e));
  }

  private untrusted(code: string, detail: string): UntrustedServerError | undefined {
    const at = `cannot trust the server at ${this.server}`;
    if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
      const host = new URL(this.server).hostname;
      return new UntrustedServerError(this.server, `${at}: ${detail} (a berth server started with --advertise ${host} has a certificate for that name)`);
    }
    if (code === 'CERT_HAS_EXPIRED' || code === 'CERT_NOT_YET_VALID') {
      return new UntrustedServerError(this.server, `${at}: its certificate ${code === 'CERT_HAS_EXPIRED' ? 'has expired' : 'is not valid yet'} (${code})`);
    }
    if (!UNTRUSTED_ISSUER.has(code)) return undefined;
    if (this.ca !== undefined) {
      return new UntrustedServerError(this.server, `${at}: its certificate is not issued by the CA in ${this.configFile ?? 'the config file'} (${code}); is that file for this cluster?`);
    }
    const where = this.configFile ? `put the cluster CA in ${this.configFile} as "ca"` : 'put the cluster CA in the config file as "ca"';
    return new UntrustedServerError(this.server, `${at}: its certificate is not issued by a CA this system trusts (${code}); ${where}, or use the admin.yaml "berth server" wrote (--config FILE)`);
  }
}

/** TLS verification codes that mean "the certificate's issuer is not one we trust". */
const UNTRUSTED_ISSUER = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_SIGNATURE_FAILURE',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
]);

function isOk(res: IncomingMessage): boolean {
  const status = res.statusCode ?? 500;
  return status >= 200 && status <= 299;
}

/** An answer's whole body as text; rejects when the connection is lost first. */
function readBody(res: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    res.on('data', (c: Buffer) => chunks.push(c));
    res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    res.on('error', reject);
    res.on('close', () => {
      if (!res.complete) reject(Object.assign(new Error('the connection was closed'), { code: 'ECONNRESET' }));
    });
  });
}

function eventsPath(query: EventsQuery, watch: boolean): string {
  const params = new URLSearchParams();
  for (const key of ['service', 'node', 'since', 'after'] as const) {
    const value = query[key];
    if (value !== undefined) params.set(key, value);
  }
  if (watch) params.set('watch', '1');
  const text = params.toString();
  return `/api/v1/events${text ? `?${text}` : ''}`;
}

function parseEvent(line: string): ClusterEvent {
  try {
    return JSON.parse(line) as ClusterEvent;
  } catch {
    throw new ApiError('INTERNAL', 200, 'Bad answer', `the server sent an event line that is not JSON: ${line.slice(0, 80)}`, []);
  }
}

/** Lines of a streamed body (no line ends); a connection lost mid-stream is UnreachableError, a cancel just ends it. */
async function* readLines(server: string, body: Readable, cancel: AbortSignal): AsyncGenerator<string> {
  const decoder = new StringDecoder('utf8');
  let pending = '';
  try {
    for await (const chunk of body) {
      pending += decoder.write(chunk as Buffer);
      let end = pending.indexOf('\n');
      while (end >= 0) {
        const line = pending.slice(0, end);
        pending = pending.slice(end + 1);
        yield line.endsWith('\r') ? line.slice(0, -1) : line;
        end = pending.indexOf('\n');
      }
    }
    pending += decoder.end();
    if (pending !== '') yield pending;
  } catch (e) {
    if (!cancel.aborted) throw new UnreachableError(server, describeFailure(e));
  } finally {
    body.destroy();
  }
}

function describeFailure(e: unknown): string {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ECONNREFUSED') return 'connection refused';
  if (code === 'ECONNRESET' || code === 'ERR_STREAM_PREMATURE_CLOSE' || code === 'ABORT_ERR') return 'the connection was closed';
  return code ?? (e instanceof Error ? e.message : String(e));
}

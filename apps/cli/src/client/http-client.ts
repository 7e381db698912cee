import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Socket } from 'node:net';
import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { createInterface } from 'node:readline';
import { EXEC_UPGRADE, execRequestQuery, type ExecRequest } from '@berth/api';
import type { ManifestSource, NodeTopView, NodeView, PlanView, RevisionView, ServiceView, TaskTopView, TaskView, TopView } from '@berth/api';
import { type ClusterEvent, formatDuration, type NodeAvailability } from '@berth/core';
import { ApiError, UnreachableError } from '../errors';
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

/**
 * Client of the control plane's HTTP API (docs/api.md). Every request has a deadline.
 * Errors: ApiError for an error answer (code and issues from problem+json), UnreachableError when
 * the server cannot be reached or does not answer in time.
 */
export class BerthClient {
  constructor(
    readonly server: string,
    private readonly timeoutMs = DEFAULT_TIMEOUT_MS,
  ) {}

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
    // One controller for the whole exchange: fetch's signal governs the body too, so the header
    // deadline is a timer cleared once the headers are in, not an AbortSignal.timeout.
    const request = new AbortController();
    const onCancel = () => request.abort();
    opts.signal.addEventListener('abort', onCancel);
    try {
      const response = await this.fetchHeaders(path, request, opts.signal);
      if (!response) return;
      if (!response.ok) throw problemToError(response.status, await response.text());
      if (!response.body) return;
      yield* readLines(this.server, Readable.fromWeb(response.body as WebReadableStream<Uint8Array>), opts.signal);
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
    const url = new URL(`${this.server}/api/v1/tasks/${encodeURIComponent(ref)}/exec?${execRequestQuery(exec)}`);
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      const req = send(url, { method: 'POST', headers: { connection: 'Upgrade', upgrade: EXEC_UPGRADE, accept: 'application/problem+json' } });
      const deadline = setTimeout(() => req.destroy(new Error('timed out')), this.timeoutMs);
      req.on('upgrade', (res: IncomingMessage, socket: Socket, head: Buffer) => {
        clearTimeout(deadline);
        resolve({ socket, head, taskId: String(res.headers['berth-task'] ?? ref) });
      });
      req.on('response', (res: IncomingMessage) => {
        clearTimeout(deadline);
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => reject(problemToError(res.statusCode ?? 500, Buffer.concat(chunks).toString())));
        res.on('error', (e) => reject(new UnreachableError(this.server, e.message)));
      });
      req.on('error', (e: NodeJS.ErrnoException) => {
        clearTimeout(deadline);
        reject(new UnreachableError(this.server, e.code === 'ECONNREFUSED' ? 'connection refused' : e.message));
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
      const response = await this.fetchHeaders(eventsPath(query, true), request, opts.signal, 'application/x-ndjson, application/problem+json');
      if (!response) return;
      if (!response.ok) throw problemToError(response.status, await response.text());
      if (!response.body) return;
      opts.onOpen?.();
      arm();
      try {
        for await (const line of readLines(this.server, Readable.fromWeb(response.body as WebReadableStream<Uint8Array>), opts.signal)) {
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

  /** The answer's headers within the deadline, or undefined when `cancel` aborted the request first. */
  private async fetchHeaders(path: string, request: AbortController, cancel: AbortSignal, accept = 'text/plain, application/problem+json'): Promise<Response | undefined> {
    const deadline = setTimeout(() => request.abort(new DOMException('no answer in time', 'TimeoutError')), this.timeoutMs);
    try {
      return await fetch(`${this.server}${path}`, { headers: { accept }, signal: request.signal });
    } catch (e) {
      if (cancel.aborted) return undefined;
      throw new UnreachableError(this.server, describeFetchFailure(e));
    } finally {
      clearTimeout(deadline);
    }
  }

  private async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const init: RequestInit = {
      method,
      headers: { accept: 'application/json', ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      signal: AbortSignal.timeout(this.timeoutMs),
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    };
    let text: string;
    let response: Response;
    try {
      response = await fetch(`${this.server}${path}`, init);
      // The deadline covers the body too: a server that stalls mid-answer is as unreachable.
      text = await response.text();
    } catch (e) {
      throw new UnreachableError(this.server, describeFetchFailure(e));
    }
    if (!response.ok) throw problemToError(response.status, text);
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new ApiError('INTERNAL', response.status, 'Bad answer', `the server answered ${method} ${path} with a body that is not JSON`, []);
    }
  }
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

/** Lines of a streamed body; a connection lost mid-stream is UnreachableError, a cancel just ends it. */
async function* readLines(server: string, body: Readable, cancel: AbortSignal): AsyncGenerator<string> {
  const lines = createInterface({ input: body, crlfDelay: Infinity });
  try {
    for await (const line of lines) yield line;
  } catch (e) {
    if (!cancel.aborted) throw new UnreachableError(server, describeFetchFailure(e));
  } finally {
    lines.close();
    body.destroy();
  }
}

function describeFetchFailure(e: unknown): string {
  if (e instanceof Error && e.name === 'TimeoutError') return 'timed out';
  const cause = e instanceof Error ? (e.cause as { code?: string; message?: string } | undefined) : undefined;
  if (cause?.code === 'UND_ERR_SOCKET') return 'the connection was closed';
  return cause?.code ?? cause?.message ?? String(e);
}

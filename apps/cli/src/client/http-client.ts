import type { ManifestSource, NodeView, ServiceView, TaskView } from '@berth/api';
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

  async apply(sources: readonly ManifestSource[], opts: { dryRun?: boolean } = {}): Promise<ApplyItem[]> {
    const query = opts.dryRun ? '?dryRun=true' : '';
    const answer = await this.request<{ items: ApplyItem[] }>('POST', `/api/v1/apply${query}`, { sources });
    return answer.items;
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

function describeFetchFailure(e: unknown): string {
  if (e instanceof Error && e.name === 'TimeoutError') return 'timed out';
  const cause = e instanceof Error ? (e.cause as { code?: string; message?: string } | undefined) : undefined;
  return cause?.code ?? cause?.message ?? String(e);
}

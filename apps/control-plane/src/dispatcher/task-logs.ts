import { Inject, Injectable, Optional } from '@nestjs/common';
import { NotFoundError, UnavailableError, ValidationError } from '@berth/core';
import type { StoreReads } from '@berth/store';
import type { MemberList } from '../infra.module';
import { MEMBERS, STORE_READS } from '../tokens';
import { Dispatcher } from './dispatcher';
import { formatLogLine } from './log-stream';
import { FORWARDED_HEADER } from './peer-forward';

export interface LogQuery {
  readonly follow: boolean;
  /** 0 = everything kept. */
  readonly tail: number;
  /** A VM task's guest console instead of the workload's output. */
  readonly console: boolean;
}

/**
 * Finds the session of the node a task runs on and asks it for the task's log. A replica that
 * does not hold that session asks the other replicas (one hop: they do not ask further) and
 * streams the first one's answer that is not 503; 503 when none holds it.
 */
/** How long a peer replica may take to answer with the log's headers. */
const PEER_HEADERS_MS = 10_000;

@Injectable()
export class TaskLogs {
  constructor(
    @Inject(STORE_READS) private readonly store: StoreReads,
    private readonly dispatcher: Dispatcher,
    @Optional() @Inject(MEMBERS) private readonly members?: MemberList,
  ) {}

  static parseQuery(follow: string | undefined, tail: string | undefined, console?: string): LogQuery {
    const n = tail === undefined || tail === '' ? 0 : Number(tail);
    if (!Number.isInteger(n) || n < 0) throw new ValidationError([{ path: 'tail', message: `must be a whole number ≥ 0 (got "${tail}")` }]);
    const flag = (v: string | undefined) => v === 'true' || v === '1';
    return { follow: flag(follow), tail: n, console: flag(console) };
  }

  /** Text lines `<time> <stream> <text>\n`; throws NotFoundError / UnavailableError before any line. */
  async open(taskId: string, query: LogQuery, signal: AbortSignal, forwarded = false): Promise<AsyncIterable<string>> {
    const task = await this.store.getTask(taskId);
    if (!task) throw new NotFoundError('task', taskId);
    if (query.console && task.template && task.template.runtime !== 'vm') {
      throw new ValidationError([{ path: 'console', message: `task ${taskId} is not a VM (runtime ${task.template.runtime}): only VM tasks have a boot console` }]);
    }
    if (!task.nodeName) throw new UnavailableError(`task "${taskId}" is not placed on a node yet, so it has no log`);
    const session = this.dispatcher.registry.get(task.nodeName);
    if (!session) {
      const relayed = forwarded ? undefined : await this.fromPeer(taskId, query, signal);
      if (relayed) return relayed;
      throw new UnavailableError(`node ${task.nodeName} is not connected${this.members && !forwarded ? ' to any control-plane replica' : ''}`);
    }
    const lines = session.openLogs(taskId, query, signal);
    return (async function* () {
      for await (const line of lines) yield formatLogLine(line);
    })();
  }

  /** The log as the first other replica that holds the node's session answers it; undefined when none does. */
  private async fromPeer(taskId: string, query: LogQuery, signal: AbortSignal): Promise<AsyncIterable<string> | undefined> {
    if (!this.members) return undefined;
    const self = this.members.self;
    const q = new URLSearchParams({ follow: String(query.follow), tail: String(query.tail), console: String(query.console) });
    for (const peer of (await this.members.list()).filter((m) => m.id !== self)) {
      // fetch's signal governs the body too: the deadline is a timer cleared once the headers are in.
      const request = new AbortController();
      const cancel = () => request.abort();
      signal.addEventListener('abort', cancel, { once: true });
      const deadline = setTimeout(cancel, PEER_HEADERS_MS);
      let res: Response;
      try {
        res = await fetch(`${peer.apiUrl}/api/v1/tasks/${encodeURIComponent(taskId)}/logs?${q.toString()}`, {
          headers: { [FORWARDED_HEADER]: self ?? 'unknown' },
          signal: request.signal,
        });
      } catch {
        signal.removeEventListener('abort', cancel);
        continue; // a peer that cannot be reached holds no session we could use
      } finally {
        clearTimeout(deadline);
      }
      if (res.status === 503 || !res.body) {
        await res.body?.cancel();
        continue;
      }
      if (!res.ok) throw new UnavailableError(`replica ${peer.id} could not relay the log: HTTP ${res.status} ${await res.text()}`);
      const body = res.body;
      return (async function* () {
        const decoder = new TextDecoder();
        for await (const chunk of body) yield decoder.decode(chunk, { stream: true });
      })();
    }
    return undefined;
  }
}

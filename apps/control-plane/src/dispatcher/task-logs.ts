import { Inject, Injectable, Optional } from '@nestjs/common';
import { NotFoundError, UnavailableError, ValidationError } from '@berth/core';
import type { StoreReads } from '@berth/store';
import type { MemberList } from '../infra.module';
import type { IdentityDeps } from '../identity/identity';
import { IDENTITY, MEMBERS, STORE_READS } from '../tokens';
import { Dispatcher } from './dispatcher';
import { formatLogLine } from './log-stream';
import { FORWARDED_HEADER, peerGet } from './peer-forward';

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
    @Inject(IDENTITY) private readonly identity: IdentityDeps,
    @Optional() @Inject(MEMBERS) private readonly members?: MemberList,
  ) {}

  static parseQuery(follow: string | undefined, tail: string | undefined, console?: string): LogQuery {
    const n = tail === undefined || tail === '' ? 0 : Number(tail);
    if (!Number.isInteger(n) || n < 0) throw new ValidationError([{ path: 'tail', message: `must be a whole number ≥ 0 (got "${tail}")` }]);
    const flag = (v: string | undefined) => v === 'true' || v === '1';
    return { follow: flag(follow), tail: n, console: flag(console) };
  }

  /** Text lines `<time> <stream> <text>\n`; throws NotFoundError / UnavailableError before any line. */
  /** `forwarded`: a peer passed this request on (answer from own sessions only); `authorization`: the caller's, for passing it on. */
  async open(taskId: string, query: LogQuery, signal: AbortSignal, forwarded = false, authorization?: string): Promise<AsyncIterable<string>> {
    const task = await this.store.getTask(taskId);
    if (!task) throw new NotFoundError('task', taskId);
    if (query.console && task.template && task.template.runtime !== 'vm') {
      throw new ValidationError([{ path: 'console', message: `task ${taskId} is not a VM (runtime ${task.template.runtime}): only VM tasks have a boot console` }]);
    }
    if (!task.nodeName) throw new UnavailableError(`task "${taskId}" is not placed on a node yet, so it has no log`);
    const session = this.dispatcher.registry.get(task.nodeName);
    if (!session) {
      const relayed = forwarded ? undefined : await this.fromPeer(taskId, query, signal, authorization);
      if (relayed) return relayed;
      throw new UnavailableError(`node ${task.nodeName} is not connected${this.members && !forwarded ? ' to any control-plane replica' : ''}`);
    }
    const lines = session.openLogs(taskId, query, signal);
    return (async function* () {
      for await (const line of lines) yield formatLogLine(line);
    })();
  }

  /** The log as the first other replica that holds the node's session answers it; undefined when none does. */
  private async fromPeer(taskId: string, query: LogQuery, signal: AbortSignal, authorization: string | undefined): Promise<AsyncIterable<string> | undefined> {
    if (!this.members) return undefined;
    const self = this.members.self;
    const q = new URLSearchParams({ follow: String(query.follow), tail: String(query.tail), console: String(query.console) });
    const headers = { [FORWARDED_HEADER]: self ?? 'unknown', ...(authorization ? { authorization } : {}) };
    for (const peer of (await this.members.list()).filter((m) => m.id !== self)) {
      let res;
      try {
        res = await peerGet(new URL(`/api/v1/tasks/${encodeURIComponent(taskId)}/logs?${q.toString()}`, peer.apiUrl), { ca: this.identity.ca.certPem, headers, signal, timeoutMs: PEER_HEADERS_MS });
      } catch {
        continue; // a peer that cannot be reached holds no session we could use
      }
      if (res.statusCode === 503) {
        res.resume();
        continue;
      }
      if (res.statusCode !== 200) {
        let text = '';
        for await (const chunk of res) text += String(chunk);
        throw new UnavailableError(`replica ${peer.id} could not relay the log: HTTP ${res.statusCode} ${text}`);
      }
      const body = res;
      return (async function* () {
        const decoder = new TextDecoder();
        for await (const chunk of body) yield decoder.decode(chunk as Buffer, { stream: true });
      })();
    }
    return undefined;
  }
}

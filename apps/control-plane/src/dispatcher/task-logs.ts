import { Inject, Injectable } from '@nestjs/common';
import { NotFoundError, UnavailableError, ValidationError } from '@berth/core';
import type { StoreReads } from '@berth/store';
import { STORE_READS } from '../tokens';
import { Dispatcher } from './dispatcher';
import { formatLogLine } from './log-stream';

export interface LogQuery {
  readonly follow: boolean;
  /** 0 = everything kept. */
  readonly tail: number;
  /** A VM task's guest console instead of the workload's output. */
  readonly console: boolean;
}

/**
 * Finds the session of the node a task runs on and asks it for the task's log. Only the replica
 * holding that session can relay; others answer 503 as if the node were not connected.
 */
@Injectable()
export class TaskLogs {
  constructor(
    @Inject(STORE_READS) private readonly store: StoreReads,
    private readonly dispatcher: Dispatcher,
  ) {}

  static parseQuery(follow: string | undefined, tail: string | undefined, console?: string): LogQuery {
    const n = tail === undefined || tail === '' ? 0 : Number(tail);
    if (!Number.isInteger(n) || n < 0) throw new ValidationError([{ path: 'tail', message: `must be a whole number ≥ 0 (got "${tail}")` }]);
    const flag = (v: string | undefined) => v === 'true' || v === '1';
    return { follow: flag(follow), tail: n, console: flag(console) };
  }

  /** Text lines `<time> <stream> <text>\n`; throws NotFoundError / UnavailableError before any line. */
  async open(taskId: string, query: LogQuery, signal: AbortSignal): Promise<AsyncIterable<string>> {
    const task = await this.store.getTask(taskId);
    if (!task) throw new NotFoundError('task', taskId);
    if (query.console && task.template && task.template.runtime !== 'vm') {
      throw new ValidationError([{ path: 'console', message: `task ${taskId} is not a VM (runtime ${task.template.runtime}): only VM tasks have a boot console` }]);
    }
    if (!task.nodeName) throw new UnavailableError(`task "${taskId}" is not placed on a node yet, so it has no log`);
    const session = this.dispatcher.registry.get(task.nodeName);
    if (!session) throw new UnavailableError(`node ${task.nodeName} is not connected`);
    const lines = session.openLogs(taskId, query, signal);
    return (async function* () {
      for await (const line of lines) yield formatLogLine(line);
    })();
  }
}

import type { TaskRecord, WatchEvent } from '@berth/store';
import type { NodeSession } from './node-session';

/**
 * The sessions this replica holds, one per node: a new session for a node replaces (ends) the
 * old one. Task changes are routed to the session of the task's node.
 */
export class SessionRegistry {
  private readonly sessions = new Map<string, NodeSession>();

  constructor(private readonly onCount: (sessions: number) => void = () => undefined) {}

  claim(node: string, session: NodeSession): void {
    const old = this.sessions.get(node);
    this.sessions.set(node, session);
    if (old && old !== session) old.replace();
    this.onCount(this.sessions.size);
  }

  /** Forgets `session` unless a newer one already holds the node. */
  release(node: string, session: NodeSession): void {
    if (this.sessions.get(node) === session) this.sessions.delete(node);
    this.onCount(this.sessions.size);
  }

  get(node: string): NodeSession | undefined {
    return this.sessions.get(node);
  }

  get size(): number {
    return this.sessions.size;
  }

  taskChanged(event: WatchEvent<TaskRecord>): void {
    if (event.type === 'put') {
      // nodeName never changes once set, but a task can leave a node's set (finished, shut down).
      if (event.value.nodeName) this.sessions.get(event.value.nodeName)?.taskChanged(event);
      return;
    }
    for (const s of this.sessions.values()) s.taskChanged(event);
  }

  /** Ends every session (shutdown). */
  closeAll(): void {
    for (const s of [...this.sessions.values()]) s.replace();
  }
}

import { isTaskUp, isTerminal, type NodeInfo, type Task } from '@berth/core';
import type { Loop } from '@berth/reconcile';
import type { ClusterCache } from '../leader/cluster-cache';

/** A node declared down, and the tasks it ran that are still waiting for a replacement that is up. */
interface Failover {
  readonly downSinceMs: number;
  readonly waiting: Set<string>;
}

/**
 * Failovers from beginning to end, pure: a node declared down at T with live tasks of replicated
 * services, until a replacement of each of them is up (running, healthy when checked) at T′;
 * T′ − T is the failover's duration. A node that comes back first, or that ran nothing to
 * replace, ends none. Global tasks are not waited for: nothing else can run them.
 */
export class FailoverTracker {
  private readonly open = new Map<string, Failover>();
  /** Which failover each waiting task belongs to. */
  private readonly nodeOf = new Map<string, string>();

  /** A node's state as the leader judges it now; `tasks` are those placed on it. */
  node(node: NodeInfo, tasks: readonly Task[], replicated: (service: string) => boolean): void {
    const current = this.open.get(node.name);
    if (node.state !== 'down') {
      if (current) this.close(node.name);
      return;
    }
    if (current || node.downSince === undefined) return;
    const waiting = new Set(tasks.filter((t) => t.desiredState === 'running' && !isTerminal(t.status.state) && replicated(t.service)).map((t) => t.id));
    if (waiting.size === 0) return;
    this.open.set(node.name, { downSinceMs: Date.parse(node.downSince), waiting });
    for (const id of waiting) this.nodeOf.set(id, node.name);
  }

  /** A task changed; resolves to the duration of the failover it completes, in seconds, if it completes one. */
  task(task: Task, nowMs: number): number | undefined {
    if (task.replaces === undefined || !isTaskUp(task)) return undefined;
    const name = this.nodeOf.get(task.replaces);
    const failover = name === undefined ? undefined : this.open.get(name);
    if (!name || !failover) return undefined;
    failover.waiting.delete(task.replaces);
    this.nodeOf.delete(task.replaces);
    if (failover.waiting.size > 0) return undefined;
    this.close(name);
    return Math.max(0, nowMs - failover.downSinceMs) / 1000;
  }

  /** Failovers under way (for tests and debugging). */
  get pending(): number {
    return this.open.size;
  }

  private close(name: string): void {
    for (const id of this.open.get(name)?.waiting ?? []) this.nodeOf.delete(id);
    this.open.delete(name);
  }
}

/** Leader-only: feeds the tracker from the cluster cache and observes each failover's duration. */
export class FailoverWatch implements Loop {
  readonly name = 'failover watch';
  private readonly tracker = new FailoverTracker();

  constructor(
    private readonly cluster: ClusterCache,
    private readonly observe: (seconds: number) => void,
    private readonly now: () => number = Date.now,
  ) {}

  async run(signal: AbortSignal): Promise<void> {
    await this.cluster.synced();
    const replicated = (service: string) => this.cluster.service(service)?.spec.mode !== 'global';
    const off = this.cluster.subscribe((c) => {
      if (c.kind === 'node') {
        const node = this.cluster.node(c.name);
        if (node) this.tracker.node(node, this.cluster.tasksOn(c.name), replicated);
      } else if (c.kind === 'task' && c.after) {
        const seconds = this.tracker.task(c.after, this.now());
        if (seconds !== undefined) this.observe(seconds);
      }
    });
    // Nodes already down when this term began: their failovers are timed from their recorded downSince.
    for (const node of this.cluster.nodes()) this.tracker.node(node, this.cluster.tasksOn(node.name), replicated);
    try {
      await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
    } finally {
      off();
    }
  }
}

import { Logger } from '@nestjs/common';
import { after, type Loop, Trigger } from '@berth/reconcile';
import { isTerminal, type NewEvent } from '@berth/core';
import type { LeaderFence, LeaderWrites } from '@berth/store';
import type { ClusterCache } from '../leader/cluster-cache';

export const NODE_LIVENESS_LOOP = 'node liveness';

/** What the store is known to hold for a node: a down record (its time), none, or not known yet. */
type Recorded = string | undefined | 'maybe';

/**
 * Leader-only: writes the leader's verdict on each node (NodeLifecycle) where every reader sees
 * it — `status/nodes/<name>` records a node down since a time, and goes once the node is back —
 * so `berth get nodes` says `down since …` and a later leader keeps the same time. Fenced.
 */
export class NodeLivenessLoop implements Loop {
  readonly name = NODE_LIVENESS_LOOP;
  private readonly log = new Logger('nodes');
  private readonly trigger = new Trigger();
  private readonly recorded = new Map<string, Recorded>();

  constructor(
    private readonly store: LeaderWrites,
    private readonly fence: LeaderFence,
    private readonly cluster: ClusterCache,
    private readonly opts: { readonly retryMs?: number; readonly onDown?: (nodes: number) => void } = {},
  ) {}

  async run(signal: AbortSignal): Promise<void> {
    const off = this.cluster.subscribe((c) => {
      if (c.kind === 'node') this.trigger.kick();
    });
    try {
      await this.cluster.synced();
      // A connected node's old record may still exist (the store hides it): clear it once.
      for (const n of this.cluster.storedNodes()) this.recorded.set(n.name, n.state === 'down' ? n.downSince : 'maybe');
      while (!signal.aborted) {
        await this.trigger.wait(signal);
        if (signal.aborted) break;
        await this.pass().catch((e: unknown) => {
          this.log.warn(`recording node liveness failed: ${e instanceof Error ? e.message : String(e)}`);
          after(this.opts.retryMs ?? 1_000, signal, () => this.trigger.kick());
        });
      }
    } finally {
      off();
    }
  }

  /** Writes the records that differ from the verdicts; unknown nodes keep whatever they have. */
  async pass(): Promise<void> {
    const changes = new Map<string, string | undefined>();
    for (const node of this.cluster.nodes()) {
      if (node.state === 'unknown') continue;
      const want = node.state === 'down' ? node.downSince : undefined;
      if (this.recorded.get(node.name) !== want) changes.set(node.name, want);
    }
    if (changes.size === 0) return;
    // A node that goes down is an event; the one that comes back is (its session writes `Ready`).
    const events = [...changes].flatMap(([name, since]): NewEvent[] => {
      const before = this.recorded.get(name);
      if (since === undefined || (before !== undefined && before !== 'maybe')) return [];
      const live = this.cluster.tasksOn(name).filter((t) => t.desiredState === 'running' && !isTerminal(t.status.state)).length;
      return [{ kind: 'node', object: name, node: name, reason: 'Down', message: `down since ${since}: its agent's lease ran out; ${live} task(s) were running on it` }];
    });
    await this.store.writeNodeLiveness(changes, this.fence, events);
    this.opts.onDown?.(events.length);
    for (const [name, since] of changes) {
      this.recorded.set(name, since);
      if (since !== undefined) this.log.warn(`node ${name} is down since ${since}`);
    }
  }
}

import type { NodeInfo } from '@berth/core';

export interface NodeLifecycleOptions {
  /** After the term starts, how long a node that has not connected since is `unknown`, not down. */
  readonly graceMs: number;
  /** The store revision at which this term began (the leader key's create revision). */
  readonly termRevision: string;
  readonly now: () => number;
}

/**
 * The leader's verdict on each node, from what the store says (alive key, down record) and what
 * this term has seen. A node is `ready` while its session holds the alive key. Once the key is
 * gone:
 * - a node whose session began during this term is `down` at once — the leader saw it go;
 * - any other node is `unknown` until the grace after the term's start ends (it may simply not
 *   have reconnected to a new leader yet, so nothing of it is replaced), then `down` — since the
 *   time a previous term recorded, when one did.
 */
export class NodeLifecycle {
  private readonly termStart: number;
  private readonly termRevision: bigint;
  /** Nodes whose session began during this term. */
  private readonly seen = new Set<string>();
  /** When this term saw a seen node lose its session (epoch ms). */
  private readonly lostAt = new Map<string, number>();

  constructor(private readonly opts: NodeLifecycleOptions) {
    this.termStart = opts.now();
    this.termRevision = BigInt(opts.termRevision);
  }

  /** Ms until the grace ends (0 once it has). */
  get graceRemainingMs(): number {
    return Math.max(0, this.termStart + this.opts.graceMs - this.opts.now());
  }

  /** Feeds the node as the store has it now (every list and watch event, in order). */
  observe(node: NodeInfo): void {
    if (node.state === 'ready') {
      if (node.sessionRevision !== undefined && BigInt(node.sessionRevision) > this.termRevision) this.seen.add(node.name);
      this.lostAt.delete(node.name);
    } else if (this.seen.has(node.name) && !this.lostAt.has(node.name)) {
      this.lostAt.set(node.name, this.opts.now());
    }
  }

  forget(name: string): void {
    this.seen.delete(name);
    this.lostAt.delete(name);
  }

  /** The node as the leader's loops see it: state ready | down | unknown, with `downSince` when down. */
  view(node: NodeInfo): NodeInfo {
    if (node.state === 'ready') return node;
    const lost = this.lostAt.get(node.name);
    if (lost !== undefined) return { ...node, state: 'down', downSince: new Date(lost).toISOString() };
    if (this.graceRemainingMs > 0) return { ...node, state: 'unknown', downSince: undefined };
    if (node.state === 'down') return node;
    return { ...node, state: 'down', downSince: new Date(this.termStart + this.opts.graceMs).toISOString() };
  }
}

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
 * - any other node is `unknown` until the grace after the term's start ends (its alive key may be
 *   one etcd kept across a control-plane restart, and its agent may simply not have reconnected
 *   yet, so nothing of it is replaced); after the grace, down — since the moment its key went
 *   when this term saw that, else since the time a previous term recorded, else since the grace
 *   ended.
 */
export class NodeLifecycle {
  private readonly termStart: number;
  private readonly termRevision: bigint;
  /** Nodes whose session began during this term. */
  private readonly seen = new Set<string>();
  /** Nodes this term has seen connected, whatever began their session. */
  private readonly wasReady = new Set<string>();
  /** When this term saw a connected node lose its session (epoch ms). */
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
      this.wasReady.add(node.name);
      this.lostAt.delete(node.name);
    } else if (this.wasReady.has(node.name) && !this.lostAt.has(node.name)) {
      this.lostAt.set(node.name, this.opts.now());
    }
  }

  forget(name: string): void {
    this.seen.delete(name);
    this.wasReady.delete(name);
    this.lostAt.delete(name);
  }

  /** The node as the leader's loops see it: state ready | down | unknown, with `downSince` when down. */
  view(node: NodeInfo): NodeInfo {
    if (node.state === 'ready') return node;
    const lost = this.lostAt.get(node.name);
    const graceOver = this.graceRemainingMs === 0;
    if (lost !== undefined && (this.seen.has(node.name) || graceOver)) return { ...node, state: 'down', downSince: new Date(lost).toISOString() };
    if (!graceOver) return { ...node, state: 'unknown', downSince: undefined };
    if (node.state === 'down') return node;
    return { ...node, state: 'down', downSince: new Date(this.termStart + this.opts.graceMs).toISOString() };
  }
}

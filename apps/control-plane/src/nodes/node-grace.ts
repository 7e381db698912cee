import type { NodeInfo } from '@berth/core';

/**
 * Right after a control-plane start or a leader change, a node without an alive key may simply
 * not have reconnected yet. Until the grace ends such a node is `unknown` — neither ready nor
 * down — so nothing is placed on it and nothing of it is replaced. A node whose alive key exists
 * is connected now, so it stays `ready`.
 */
export class NodeGrace {
  private readonly until: number;

  constructor(
    graceMs: number,
    private readonly now: () => number = Date.now,
  ) {
    this.until = now() + graceMs;
  }

  get active(): boolean {
    return this.now() < this.until;
  }

  /** Ms until the grace ends (0 once it has). */
  get remainingMs(): number {
    return Math.max(0, this.until - this.now());
  }

  view(node: NodeInfo): NodeInfo {
    return this.active && node.state === 'down' ? { ...node, state: 'unknown' } : node;
  }

  viewAll(nodes: readonly NodeInfo[]): NodeInfo[] {
    return nodes.map((n) => this.view(n));
  }
}

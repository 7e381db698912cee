import type { NodeInfo } from '@berth/core';
import type { Etcd3 } from 'etcd3';
import { aliveCodec, nodeCodec, nodeLivenessCodec } from './codecs';
import { EtcdInformer } from './informer';
import type { Keyspace } from './keys';
import { withLiveness, type NodeLivenessRecord } from './node-records';
import type { Informer, WatchEvent } from './store';

/**
 * Nodes with their derived state: three informers (nodes/, alive/ and the leader's
 * status/nodes/) joined by name. A change of any emits the node as it is now, so a lease expiring
 * reads as a `put` of the node with state `unknown`, and the leader's record as one with `down`.
 * Events of the three prefixes come from three watches, so their revisions interleave but each
 * node's events stay in order.
 */
export class NodeStateInformer implements Informer<NodeInfo> {
  private readonly nodes: EtcdInformer<NodeInfo>;
  private readonly alive: EtcdInformer<string>;
  private readonly down: EtcdInformer<NodeLivenessRecord>;

  constructor(client: Etcd3, keys: Keyspace) {
    this.nodes = new EtcdInformer(client, keys.nodes, nodeCodec);
    this.alive = new EtcdInformer(client, keys.alive(''), aliveCodec);
    this.down = new EtcdInformer(client, keys.nodeStatuses, nodeLivenessCodec);
  }

  async run(signal: AbortSignal): Promise<void> {
    await Promise.all([this.nodes.run(signal), this.alive.run(signal), this.down.run(signal)]);
  }

  async synced(): Promise<void> {
    await Promise.all([this.nodes.synced(), this.alive.synced(), this.down.synced()]);
  }

  get(key: string): NodeInfo | undefined {
    const node = this.nodes.get(key);
    return node && this.join(node);
  }

  list(): NodeInfo[] {
    return this.nodes.list().map((n) => this.join(n));
  }

  subscribe(listener: (event: WatchEvent<NodeInfo>) => void): () => void {
    const offNodes = this.nodes.subscribe((e) => {
      if (e.type === 'delete') listener(e);
      else listener({ ...e, value: this.join(e.value) });
    });
    const relay = (e: WatchEvent<unknown>): void => {
      const node = this.nodes.get(e.key);
      if (node) listener({ type: 'put', key: e.key, value: this.join(node), revision: e.revision });
    };
    const offAlive = this.alive.subscribe(relay);
    const offDown = this.down.subscribe(relay);
    return () => {
      offNodes();
      offAlive();
      offDown();
    };
  }

  private join(node: NodeInfo): NodeInfo {
    return withLiveness(node, { aliveRevision: this.alive.get(node.name), downSince: this.down.get(node.name)?.downSince });
  }
}

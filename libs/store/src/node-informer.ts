import type { NodeInfo } from '@berth/core';
import type { Etcd3 } from 'etcd3';
import { nodeCodec, type Codec } from './codecs';
import { EtcdInformer } from './informer';
import { nameOf, type Keyspace } from './keys';
import { withLiveness } from './node-writer';
import type { Informer, WatchEvent } from './store';

const aliveCodec: Codec<true> = { keyOf: nameOf, decode: () => true };

/**
 * Nodes with their derived state: two informers (nodes/ and alive/) joined by name. A change of
 * either emits the node as it is now, so a lease expiring reads as a `put` of the node with
 * state `down`. Events of the two prefixes come from two watches, so their revisions interleave
 * but each node's events stay in order.
 */
export class NodeStateInformer implements Informer<NodeInfo> {
  private readonly nodes: EtcdInformer<NodeInfo>;
  private readonly alive: EtcdInformer<true>;

  constructor(client: Etcd3, keys: Keyspace) {
    this.nodes = new EtcdInformer(client, keys.nodes, nodeCodec);
    this.alive = new EtcdInformer(client, keys.alive(''), aliveCodec);
  }

  async run(signal: AbortSignal): Promise<void> {
    await Promise.all([this.nodes.run(signal), this.alive.run(signal)]);
  }

  async synced(): Promise<void> {
    await Promise.all([this.nodes.synced(), this.alive.synced()]);
  }

  get(key: string): NodeInfo | undefined {
    const node = this.nodes.get(key);
    return node && withLiveness(node, this.alive.get(key) !== undefined);
  }

  list(): NodeInfo[] {
    return this.nodes.list().map((n) => withLiveness(n, this.alive.get(n.name) !== undefined));
  }

  subscribe(listener: (event: WatchEvent<NodeInfo>) => void): () => void {
    const offNodes = this.nodes.subscribe((e) => {
      if (e.type === 'delete') listener(e);
      else listener({ ...e, value: withLiveness(e.value, this.alive.get(e.key) !== undefined) });
    });
    const offAlive = this.alive.subscribe((e) => {
      const node = this.nodes.get(e.key);
      if (node) listener({ type: 'put', key: e.key, value: withLiveness(node, e.type === 'put'), revision: e.revision });
    });
    return () => {
      offNodes();
      offAlive();
    };
  }
}

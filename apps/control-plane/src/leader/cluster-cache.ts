import type { NodeInfo, Rollout, Service } from '@berth/core';
import { after, runLoops, type Source, whenSynced } from '@berth/reconcile';
import { serviceOfTask, type Informer, type LeaderFence, type StoreReads, type TaskRecord } from '@berth/store';
import { NodeLifecycle } from '../nodes/node-lifecycle';

/** What changed in the cluster; loops enqueue keys from it and read the cache. */
export type ClusterChange =
  | { readonly kind: 'service'; readonly name: string; readonly deleted: boolean }
  | {
      readonly kind: 'task';
      readonly id: string;
      readonly service: string;
      readonly revision: string;
      /** The record before and after the change (absent: created, or deleted). */
      readonly before: TaskRecord | undefined;
      readonly after: TaskRecord | undefined;
    }
  | { readonly kind: 'node'; readonly name: string };

export interface ClusterCacheOptions {
  readonly fence: LeaderFence;
  /** Grace after the term starts during which nodes that did not reconnect are `unknown`. */
  readonly graceMs: number;
  readonly now?: () => number;
}

/**
 * One term's read-only picture of the cluster, shared by every leader loop: services, tasks
 * (indexed by service and by node) and nodes as the leader judges them (NodeLifecycle: ready,
 * down since when, or unknown during the grace). Built from four informers (rollout records too); discarded when the
 * term ends, so nothing of a previous term's view survives into the next.
 */
export class ClusterCache implements Source {
  private readonly services: Informer<Service>;
  private readonly taskInformer: Informer<TaskRecord>;
  private readonly nodeInformer: Informer<NodeInfo>;
  private readonly rollouts: Informer<Rollout>;
  private readonly lifecycle: NodeLifecycle;
  private readonly byService = new Map<string, Map<string, TaskRecord>>();
  private readonly byNode = new Map<string, Map<string, TaskRecord>>();
  /** Where each task is indexed, so a change can take it out of its old place. */
  private readonly indexed = new Map<string, TaskRecord>();
  private readonly listeners = new Set<(change: ClusterChange) => void>();
  /**
   * nodes() as last computed, valid until a node changes or the grace ends: every loop asks for
   * all nodes on every pass, and judging them anew each time is most of what a pass costs.
   */
  private nodeViews: { readonly graceOver: boolean; readonly nodes: NodeInfo[] } | undefined;
  private ready = false;
  private markSynced!: () => void;
  private readonly syncedPromise = new Promise<void>((resolve) => (this.markSynced = resolve));

  constructor(store: StoreReads, opts: ClusterCacheOptions) {
    this.services = store.serviceInformer();
    this.taskInformer = store.taskInformer();
    this.nodeInformer = store.nodeInformer();
    this.rollouts = store.rolloutInformer();
    this.lifecycle = new NodeLifecycle({ graceMs: opts.graceMs, termRevision: opts.fence.createRevision, now: opts.now ?? Date.now });
  }

  async run(signal: AbortSignal): Promise<void> {
    const offs = this.follow();
    const informers = { services: this.services, tasks: this.taskInformer, nodes: this.nodeInformer, rollouts: this.rollouts };
    try {
      await runLoops(
        [
          ...Object.entries(informers).map(([name, inf]) => ({ name: `${name} informer`, run: (s: AbortSignal) => inf.run(s) })),
          { name: 'cluster cache', run: (s: AbortSignal) => this.index(s) },
        ],
        signal,
      );
    } finally {
      offs.forEach((off) => off());
    }
  }

  /** Resolves once every collection is listed and indexed. */
  synced(): Promise<void> {
    return this.syncedPromise;
  }

  subscribe(listener: (change: ClusterChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  service(name: string): Service | undefined {
    return this.services.get(name);
  }

  /** The stored rollout record of a service (the orchestrator writes them). */
  rollout(name: string): Rollout | undefined {
    return this.rollouts.get(name);
  }

  allServices(): Service[] {
    return this.services.list();
  }

  task(id: string): TaskRecord | undefined {
    return this.taskInformer.get(id);
  }

  tasks(): TaskRecord[] {
    return this.taskInformer.list();
  }

  /** Every task record of one service, finished ones included. */
  tasksOf(service: string): TaskRecord[] {
    return [...(this.byService.get(service)?.values() ?? [])];
  }

  /** Every task record placed on one node, finished ones included. */
  tasksOn(node: string): TaskRecord[] {
    return [...(this.byNode.get(node)?.values() ?? [])];
  }

  /** The node as the leader judges it (see NodeLifecycle). */
  node(name: string): NodeInfo | undefined {
    const n = this.nodeInformer.get(name);
    return n && this.lifecycle.view(n);
  }

  nodes(): NodeInfo[] {
    const graceOver = this.lifecycle.graceRemainingMs === 0;
    if (this.nodeViews?.graceOver !== graceOver) this.nodeViews = { graceOver, nodes: this.nodeInformer.list().map((n) => this.lifecycle.view(n)) };
    return [...this.nodeViews.nodes];
  }

  /** The nodes as the store has them: `down` only where a leader recorded it (see withLiveness). */
  storedNodes(): NodeInfo[] {
    return this.nodeInformer.list();
  }

  /** Names of the services with at least one task record (deleted services included). */
  serviceNamesWithTasks(): string[] {
    return [...this.byService.keys()];
  }

  private follow(): (() => void)[] {
    return [
      this.services.subscribe((e) => this.emit({ kind: 'service', name: e.key, deleted: e.type === 'delete' })),
      this.taskInformer.subscribe((e) => {
        if (!this.ready) return; // the first index covers everything listed before it
        const before = this.indexed.get(e.key);
        this.reindex(e.key);
        this.emit({ kind: 'task', id: e.key, service: serviceOfTask(e.key), revision: e.revision, before, after: this.indexed.get(e.key) });
      }),
      this.nodeInformer.subscribe((e) => {
        this.nodeViews = undefined;
        if (e.type === 'put') this.lifecycle.observe(e.value);
        else this.lifecycle.forget(e.key);
        this.emit({ kind: 'node', name: e.key });
      }),
    ];
  }

  /** Waits for the informers, indexes what they listed, then re-judges every node when the grace ends. */
  private async index(signal: AbortSignal): Promise<void> {
    await whenSynced([this.services, this.taskInformer, this.nodeInformer, this.rollouts], signal);
    if (signal.aborted) return;
    for (const t of this.taskInformer.list()) this.reindex(t.id);
    for (const n of this.nodeInformer.list()) this.lifecycle.observe(n);
    this.nodeViews = undefined;
    this.ready = true;
    this.markSynced();
    // Nodes still away when the grace ends become down: nothing in the store says so.
    after(this.lifecycle.graceRemainingMs, signal, () => {
      for (const n of this.nodeInformer.list()) this.emit({ kind: 'node', name: n.name });
    });
    await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
  }

  private reindex(id: string): void {
    const before = this.indexed.get(id);
    if (before) {
      this.byService.get(before.service)?.delete(id);
      if (this.byService.get(before.service)?.size === 0) this.byService.delete(before.service);
      if (before.nodeName) {
        this.byNode.get(before.nodeName)?.delete(id);
        if (this.byNode.get(before.nodeName)?.size === 0) this.byNode.delete(before.nodeName);
      }
    }
    const now = this.taskInformer.get(id);
    if (!now) {
      this.indexed.delete(id);
      return;
    }
    this.indexed.set(id, now);
    addTo(this.byService, now.service, now);
    if (now.nodeName) addTo(this.byNode, now.nodeName, now);
  }

  private emit(change: ClusterChange): void {
    for (const listener of this.listeners) listener(change);
  }
}

function addTo(index: Map<string, Map<string, TaskRecord>>, key: string, task: TaskRecord): void {
  let m = index.get(key);
  if (!m) index.set(key, (m = new Map()));
  m.set(task.id, task);
}

import { Logger } from '@nestjs/common';
import type { ServiceStatus } from '@berth/core';
import { type Loop, WorkQueue } from '@berth/reconcile';
import type { LeaderFence, LeaderWrites, StoreReads } from '@berth/store';
import type { ClusterCache, ClusterChange } from '../leader/cluster-cache';
import type { ControlPlaneMetrics } from '../observability/metrics';
import { computeServiceStatus, sameStatus } from './service-status';
import { StatusWriter } from './status-writer';

export const STATUS_LOOP = 'status';
const DEFAULT_CONCURRENCY = 64;

export interface StatusLoopOptions {
  readonly concurrency?: number;
  readonly now?: () => Date;
}

/**
 * Leader-only: keeps `status/services/<name>` equal to what the tasks and nodes say.
 * Level-triggered — service, task and node changes enqueue service names; each reconcile
 * recomputes from the term's cluster cache. Writes only when a field other than the timestamp
 * changed, always fenced by this term's leader key, and deletes the status of deleted services.
 */
export class StatusLoop implements Loop {
  readonly name = STATUS_LOOP;
  private readonly log = new Logger('status');
  private readonly writer: StatusWriter;
  /**
   * The stored statuses as this term knows them: listed once when the term starts, then kept by
   * its own writes. Only the leader writes status keys (fenced); the one other change — a service
   * delete removing its status key — is applied from the service's delete event.
   */
  private readonly stored = new Map<string, ServiceStatus>();
  private readonly queue = new WorkQueue<string>({
    onError: (key, e, retryIn) => this.log.warn(`service ${key}: ${e instanceof Error ? e.message : String(e)} (retry in ${retryIn} ms)`),
  });

  constructor(
    private readonly reads: StoreReads,
    private readonly store: LeaderWrites,
    private readonly fence: LeaderFence,
    private readonly cluster: ClusterCache,
    private readonly metrics: ControlPlaneMetrics,
    private readonly opts: StatusLoopOptions = {},
  ) {
    this.writer = new StatusWriter(store, fence);
  }

  async run(signal: AbortSignal): Promise<void> {
    const off = this.cluster.subscribe((c) => this.onChange(c));
    try {
      await this.cluster.synced();
      await this.work(signal);
    } finally {
      off();
    }
  }

  private onChange(c: ClusterChange): void {
    switch (c.kind) {
      case 'service':
        // Deleting a service removes its status key in the same transaction.
        if (c.deleted) this.stored.delete(c.name);
        return this.queue.add(c.name);
      case 'task':
        return this.queue.add(c.service);
      case 'node':
        // Global services want one task per eligible node; others count tasks by their node's state.
        for (const s of this.cluster.allServices()) if (s.spec.mode === 'global') this.queue.add(s.meta.name);
        for (const t of this.cluster.tasksOn(c.name)) this.queue.add(t.service);
    }
  }

  private async work(signal: AbortSignal): Promise<void> {
    for (const [name, status] of await this.reads.listServiceStatuses()) this.stored.set(name, status);
    // A new term starts from a full pass, statuses of services deleted while nobody led included.
    for (const s of this.cluster.allServices()) this.queue.add(s.meta.name);
    for (const name of this.stored.keys()) this.queue.add(name);
    // Reconciles mostly wait for their batched write, so many can be in flight at once.
    await this.queue.run(signal, (name) => this.reconcile(name), { concurrency: this.opts.concurrency ?? DEFAULT_CONCURRENCY });
  }

  /** One service: recompute, write if changed; or remove the status of a deleted service. */
  async reconcile(name: string): Promise<void> {
    const started = performance.now();
    try {
      const service = this.cluster.service(name);
      if (!service) return await this.forget(name);
      const next = computeServiceStatus(service, this.cluster.tasksOf(name), this.cluster.nodes(), (this.opts.now?.() ?? new Date()).toISOString());
      this.metrics.setReplicas(name, next.desired, next.running);
      const previous = this.stored.get(name);
      if (previous && sameStatus(previous, next)) return;
      await this.writer.put(name, next);
      this.stored.set(name, next);
    } finally {
      this.metrics.observeReconcile(STATUS_LOOP, (performance.now() - started) / 1000);
    }
  }

  private async forget(name: string): Promise<void> {
    this.metrics.forgetService(name);
    if (!this.stored.has(name)) return;
    await this.store.deleteServiceStatuses([name], this.fence);
    this.stored.delete(name);
  }
}

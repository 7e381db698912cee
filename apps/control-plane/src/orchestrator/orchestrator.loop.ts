import { Logger } from '@nestjs/common';
import type { NodeInfo, Service } from '@berth/core';
import { type Loop, WorkQueue } from '@berth/reconcile';
import { serviceOfTask, type Informer, type LeaderFence, type Store, type TaskRecord } from '@berth/store';
import { after, runWithInformers } from '../leader/signals';
import { RevisionWatermark } from '../leader/watermark';
import { NodeGrace } from '../nodes/node-grace';
import type { ControlPlaneMetrics } from '../observability/metrics';
import { planService } from './plan';

export const ORCHESTRATOR_LOOP = 'orchestrator';

export interface OrchestratorLoopOptions {
  /** Grace after the term starts during which absent nodes are `unknown`, not down. */
  readonly graceMs: number;
  readonly concurrency?: number;
  readonly now?: () => number;
}

/**
 * Leader-only: services → tasks. Service, task and node events enqueue service names; each
 * reconcile plans from the informer caches with the pure `planService` and writes the plan in
 * fenced transactions. A deleted service is still planned (its tasks stop, then records go).
 */
export class OrchestratorLoop implements Loop {
  readonly name = ORCHESTRATOR_LOOP;
  private readonly log = new Logger('orchestrator');
  private readonly services: Informer<Service>;
  private readonly tasks: Informer<TaskRecord>;
  private readonly nodes: Informer<NodeInfo>;
  private readonly watermark: RevisionWatermark;
  private readonly grace: NodeGrace;
  /** When each service's pending requeue fires (epoch ms). */
  private readonly requeues = new Map<string, number>();
  private readonly queue = new WorkQueue<string>({
    onError: (key, e, retryIn) => this.log.warn(`service ${key}: ${e instanceof Error ? e.message : String(e)} (retry in ${retryIn} ms)`),
  });

  constructor(
    private readonly store: Store,
    private readonly fence: LeaderFence,
    private readonly metrics: ControlPlaneMetrics,
    private readonly opts: OrchestratorLoopOptions,
  ) {
    this.services = store.serviceInformer();
    this.tasks = store.taskInformer();
    this.nodes = store.nodeInformer();
    this.watermark = new RevisionWatermark(opts.now);
    this.grace = new NodeGrace(opts.graceMs, opts.now);
  }

  async run(signal: AbortSignal): Promise<void> {
    const offs = [
      this.services.subscribe((e) => this.queue.add(e.key)),
      this.watermark.follow(this.tasks, (key) => this.queue.add(serviceOfTask(key))),
      this.nodes.subscribe(() => this.addGlobalServices()),
    ];
    try {
      const informers = { services: this.services, tasks: this.tasks, nodes: this.nodes };
      await runWithInformers(informers, { name: 'orchestrator queue', run: (s) => this.work(s) }, signal);
    } finally {
      offs.forEach((off) => off());
    }
  }

  private async work(signal: AbortSignal): Promise<void> {
    for (const s of this.services.list()) this.queue.add(s.meta.name);
    // Services deleted while nobody led still have tasks to stop and forget.
    for (const t of this.tasks.list()) this.queue.add(t.service);
    // Nodes that stayed away past the grace now count as down: global services re-plan.
    after(this.grace.remainingMs, signal, () => this.addGlobalServices());
    await this.queue.run(signal, (name) => this.reconcile(name, signal), { concurrency: this.opts.concurrency ?? 16 });
  }

  /** Plans `name` again after `ms` (a restart backoff); one timer per service, the earliest wins. */
  private requeue(name: string, ms: number, signal: AbortSignal): void {
    const due = Date.now() + ms;
    const pending = this.requeues.get(name);
    if (pending !== undefined && pending <= due) return;
    this.requeues.set(name, due);
    after(ms, signal, () => {
      if (this.requeues.get(name) === due) this.requeues.delete(name);
      this.queue.add(name);
    });
  }

  private addGlobalServices(): void {
    for (const s of this.services.list()) if (s.spec.mode === 'global') this.queue.add(s.meta.name);
  }

  /** One service: plan from the caches, write what changes. */
  async reconcile(name: string, signal: AbortSignal): Promise<void> {
    // The last write for this service is not in the cache yet: its event re-enqueues the service.
    if (!this.watermark.caughtUp(name)) return;
    const started = performance.now();
    try {
      const service = this.services.get(name);
      const tasks = this.tasks.list().filter((t) => t.service === name);
      const nodes = this.grace.viewAll(this.nodes.list());
      const plan = planService({ service, tasks, nodes, now: (this.opts.now ?? Date.now)() });
      if (plan.requeueAfterMs !== undefined) this.requeue(name, plan.requeueAfterMs, signal);
      if (plan.create.length + plan.shutdown.length + plan.remove.length === 0) return;
      const template = service?.spec.template;
      const create = template ? plan.create.map((c) => ({ ...c, template })) : [];
      const res = await this.store.applyTaskPlan(name, { create, shutdown: plan.shutdown, remove: plan.remove }, this.fence);
      this.watermark.expect(name, res.revision);
    } finally {
      this.metrics.observeReconcile(ORCHESTRATOR_LOOP, (performance.now() - started) / 1000);
    }
  }
}

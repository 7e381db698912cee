import { Logger } from '@nestjs/common';
import type { Rollout } from '@berth/core';
import { after, type Loop, RevisionWatermark, WorkQueue } from '@berth/reconcile';
import type { LeaderFence, OrchestratorWrites } from '@berth/store';
import type { ClusterCache, ClusterChange } from '../leader/cluster-cache';
import type { ControlPlaneMetrics } from '../observability/metrics';
import { rollingBackEvent, rolloutEvents, successorOf } from './events';
import { planService, type PlannedTask } from './plan';
import { rollbackRollout } from './rollout';
import { isRoutineProgress } from './task-facts';

export const ORCHESTRATOR_LOOP = 'orchestrator';

/**
 * How long a service whose tasks only made routine progress waits for its next pass: such steps
 * change no plan (isRoutineProgress), and a level-triggered planner looks anyway, once a second
 * at most, rather than trust that judgement with a task's fate.
 */
export const ROUTINE_REPLAN_MS = 1_000;

export interface OrchestratorLoopOptions {
  readonly concurrency?: number;
  readonly now?: () => number;
}

/**
 * Leader-only: services → tasks. Service, task and node changes enqueue service names; each
 * reconcile plans from the term's cluster cache with the pure `planService` and writes the plan
 * in fenced transactions. A deleted service is still planned (its tasks stop, then records go).
 */
export class OrchestratorLoop implements Loop {
  readonly name = ORCHESTRATOR_LOOP;
  private readonly log = new Logger('orchestrator');
  private readonly watermark: RevisionWatermark;
  /** When each service's pending requeue fires (epoch ms). */
  private readonly requeues = new Map<string, number>();
  /**
   * The rollout records this term wrote. The orchestrator is their only writer, so what it wrote
   * last is what is stored, even before the cache has seen it.
   */
  private readonly written = new Map<string, Rollout | undefined>();
  private readonly queue = new WorkQueue<string>({
    onError: (key, e, retryIn) => this.log.warn(`service ${key}: ${e instanceof Error ? e.message : String(e)} (retry in ${retryIn} ms)`),
  });

  constructor(
    private readonly store: OrchestratorWrites,
    private readonly fence: LeaderFence,
    private readonly cluster: ClusterCache,
    private readonly metrics: ControlPlaneMetrics,
    private readonly opts: OrchestratorLoopOptions = {},
  ) {
    this.watermark = new RevisionWatermark(opts.now);
  }

  async run(signal: AbortSignal): Promise<void> {
    const off = this.cluster.subscribe((c) => this.onChange(c, signal));
    try {
      await this.cluster.synced();
      for (const s of this.cluster.allServices()) this.queue.add(s.meta.name);
      // Services deleted while nobody led still have tasks to stop and forget.
      for (const name of this.cluster.serviceNamesWithTasks()) this.queue.add(name);
      await this.queue.run(signal, (name) => this.reconcile(name, signal), { concurrency: this.opts.concurrency ?? 16 });
    } finally {
      off();
    }
  }

  private onChange(c: ClusterChange, signal: AbortSignal): void {
    switch (c.kind) {
      case 'service':
        return this.queue.add(c.name);
      case 'task':
        this.watermark.observe(c.revision);
        if (isRoutineProgress(c.before, c.after) && !this.rollingOut(c.service)) return this.requeue(c.service, ROUTINE_REPLAN_MS, signal);
        return this.queue.add(c.service);
      case 'node':
        // A node coming, going or draining concerns the services with tasks on it, and every global one.
        for (const t of this.cluster.tasksOn(c.name)) this.queue.add(t.service);
        for (const s of this.cluster.allServices()) if (s.spec.mode === 'global') this.queue.add(s.meta.name);
    }
  }

  /** Plans `name` again after `ms` (a restart backoff); one timer per service, the earliest wins. */
  private requeue(name: string, ms: number, signal: AbortSignal): void {
    const due = this.now() + ms;
    const pending = this.requeues.get(name);
    if (pending !== undefined && pending <= due) return;
    this.requeues.set(name, due);
    after(ms, signal, () => {
      if (this.requeues.get(name) === due) this.requeues.delete(name);
      this.queue.add(name);
    });
  }

  /**
   * A rollout of the service is replacing tasks of an earlier revision: it waits for each
   * replacement to be up before the next starts. (A first revision's rollout replaces nothing;
   * its record only counts the tasks up, and may lag by ROUTINE_REPLAN_MS.)
   */
  private rollingOut(name: string): boolean {
    const rollout = this.written.has(name) ? this.written.get(name) : this.cluster.rollout(name);
    if (rollout?.previousRevision === undefined) return false;
    return rollout.state === 'updating' || rollout.state === 'rolling-back';
  }

  private now(): number {
    return (this.opts.now ?? Date.now)();
  }

  /** One service: plan from the cache, write what changes. */
  async reconcile(name: string, signal: AbortSignal): Promise<void> {
    // The last write for this service is not in the cache yet: its event re-enqueues the service.
    if (!this.watermark.caughtUp(name)) return;
    const started = performance.now();
    try {
      const service = this.cluster.service(name);
      const stored = this.written.has(name) ? this.written.get(name) : this.cluster.rollout(name);
      // A rollback this term wrote is not in the cache yet: the service's event comes back here.
      if (service && stored && stored.revision > service.meta.revision) return;
      const plan = planService({ service, tasks: this.cluster.tasksOf(name), nodes: this.cluster.nodes(), now: this.now(), ...(stored ? { rollout: stored } : {}) });
      if (plan.requeueAfterMs !== undefined) this.requeue(name, plan.requeueAfterMs, signal);
      if (!service) {
        if (stored) await this.writeRollout(name, undefined, stored);
      } else if (plan.rollback) {
        const { toRevision, rollout } = plan.rollback;
        const record = rollbackRollout(rollout, this.now());
        const restored = await this.store.restoreRevision(name, toRevision, {
          cause: `rollback to revision ${toRevision}: ${rollout.reason ?? 'update failed'}`,
          resourceVersion: service.meta.resourceVersion,
          fence: this.fence,
          rollout: record,
          events: [rollingBackEvent(name, rollout, toRevision)],
        });
        this.written.set(name, record(restored.meta.revision));
        this.log.warn(`service ${name}: rolling back revision ${rollout.revision} to revision ${toRevision}: ${rollout.reason ?? ''}`);
        return;
      } else if (plan.rollout) {
        await this.writeRollout(name, plan.rollout, stored);
        if (plan.rollout.state !== stored?.state) this.log.log(`service ${name}: rollout of revision ${plan.rollout.revision} ${plan.rollout.state}${plan.rollout.reason ? `: ${plan.rollout.reason}` : ''}`);
      }
      if (plan.create.length + plan.shutdown.length + plan.remove.length === 0) return;
      const template = service?.spec.template;
      // Copied into each new task with its template: the task is placed by the rules it was created with.
      const placement = service?.spec.placement;
      const fenced = service?.spec.fencing ? { fenced: true } : {};
      const shutdown = new Set(plan.shutdown);
      const nodes = new Map(this.cluster.nodes().map((n) => [n.name, n]));
      const bySlot = new Map<number, PlannedTask[]>();
      for (const t of this.cluster.tasksOf(name)) {
        const slot = bySlot.get(t.slot);
        if (slot) slot.push(t);
        else bySlot.set(t.slot, [t]);
      }
      let restarts = 0;
      const create = service && template
        ? plan.create.map((c) => {
            const successor = successorOf(c, { service, slotTasks: bySlot.get(c.slot) ?? [], shutdown, nodes });
            if (successor?.cause === 'restart') restarts++;
            const succeeds = successor && { taskId: successor.taskId, ...(successor.node ? { node: successor.node } : {}), why: successor.why };
            return { ...c, template, ...(placement ? { placement } : {}), ...fenced, ...(succeeds ? { succeeds } : {}) };
          })
        : [];
      const res = await this.store.applyTaskPlan(name, { create, shutdown: plan.shutdown, remove: plan.remove }, this.fence);
      this.watermark.expect(name, res.revision);
      this.metrics.countRestarts(name, restarts);
    } finally {
      this.metrics.observeReconcile(ORCHESTRATOR_LOOP, (performance.now() - started) / 1000);
    }
  }

  private async writeRollout(name: string, rollout: Rollout | undefined, stored: Rollout | undefined): Promise<void> {
    await this.store.putRollouts(new Map([[name, rollout]]), this.fence, rolloutEvents(name, stored, rollout));
    this.written.set(name, rollout);
  }
}

import { Logger } from '@nestjs/common';
import { after, type Loop, RevisionWatermark, Trigger } from '@berth/reconcile';
import { schedule, type Placement } from '@berth/scheduler';
import type { LeaderFence, Store, TaskPlacement } from '@berth/store';
import type { ClusterCache } from '../leader/cluster-cache';
import type { ControlPlaneMetrics } from '../observability/metrics';
import { schedulingInput } from './snapshot';

export const SCHEDULER_LOOP = 'scheduler';

export interface SchedulerLoopOptions {
  readonly now?: () => number;
  /** Pause after a failed pass before the next one; default 1 s. */
  readonly retryMs?: number;
  /** How long a node that rejected a slot's task is avoided for that slot; default 60 s (REJECTION_COOLDOWN_MS). */
  readonly rejectionCooldownMs?: number;
}

/** The key the watermark tracks this loop's own writes under. */
const PASS = 'pass';

/**
 * Leader-only, the only writer of `nodeName`: pending tasks + nodes + placed tasks → the pure
 * `schedule()` → placements and explanations, written in fenced batches. Placing the
 * replacement of a task of a down node orphans that task in the same transaction. Any change in
 * the cluster cache marks the loop dirty; passes run one at a time, so a burst of events costs
 * one pass.
 */
export class SchedulerLoop implements Loop {
  readonly name = SCHEDULER_LOOP;
  private readonly log = new Logger('scheduler');
  private readonly watermark: RevisionWatermark;
  private readonly trigger = new Trigger();
  /** When the earliest scheduled re-pass for an ending rejection cooldown fires (epoch ms). */
  private recheckAt: number | undefined;

  constructor(
    private readonly store: Store,
    private readonly fence: LeaderFence,
    private readonly cluster: ClusterCache,
    private readonly metrics: ControlPlaneMetrics,
    private readonly opts: SchedulerLoopOptions = {},
  ) {
    this.watermark = new RevisionWatermark(opts.now);
  }

  async run(signal: AbortSignal): Promise<void> {
    const off = this.cluster.subscribe((c) => {
      if (c.kind === 'task') this.watermark.observe(c.revision);
      this.trigger.kick();
    });
    try {
      await this.cluster.synced();
      while (!signal.aborted) {
        await this.trigger.wait(signal);
        if (signal.aborted) break;
        try {
          const recheckMs = await this.pass();
          if (recheckMs !== undefined) this.recheckAfter(recheckMs, signal);
        } catch (e) {
          this.log.warn(`scheduling pass failed: ${e instanceof Error ? e.message : String(e)}`);
          after(this.opts.retryMs ?? 1_000, signal, () => this.trigger.kick());
        }
      }
    } finally {
      off();
    }
  }

  /**
   * Nothing in the store changes when a rejection cooldown ends, so a timer marks the loop dirty
   * then; a later one is left to the pass that timer triggers.
   */
  private recheckAfter(ms: number, signal: AbortSignal): void {
    const due = this.now() + ms;
    if (this.recheckAt !== undefined && this.recheckAt <= due) return;
    this.recheckAt = due;
    after(ms, signal, () => {
      this.recheckAt = undefined;
      this.trigger.kick();
    });
  }

  private now(): number {
    return this.opts.now?.() ?? Date.now();
  }

  /**
   * One pass over the caches; skipped while the caches do not yet show the previous pass's writes.
   * Resolves to the ms after which a pass is due even without a change (a node stops being
   * avoided), if any.
   */
  async pass(): Promise<number | undefined> {
    if (!this.watermark.caughtUp(PASS)) return undefined;
    const started = performance.now();
    try {
      const tasks = this.cluster.tasks();
      const nodes = this.cluster.nodes();
      this.metrics.setClusterCounts(tasks, nodes);
      const input = schedulingInput(tasks, (name) => this.cluster.service(name), nodes, { now: this.now(), rejectionCooldownMs: this.opts.rejectionCooldownMs });
      this.metrics.setPendingTasks(input.pending.length);
      if (input.pending.length === 0) return undefined;
      const result = schedule(input);
      this.metrics.countPlacements(result.placements.length, result.unschedulable.length);
      const placed = await this.store.assignNodes(result.placements.map((p) => this.withOrphan(p)), this.fence);
      const changed = new Map(result.unschedulable.filter((u) => this.cluster.task(u.taskId)?.status.message !== u.explanation).map((u) => [u.taskId, u.explanation]));
      const noted = changed.size > 0 ? await this.store.recordUnschedulable(changed, this.fence) : { written: [] };
      const revisions = [placed.revision, noted.revision].filter((r): r is string => r !== undefined);
      if (revisions.length > 0) this.watermark.expect(PASS, revisions.sort((a, b) => (BigInt(a) < BigInt(b) ? 1 : -1))[0]);
      return input.nextExpiryMs;
    } finally {
      this.metrics.observeReconcile(SCHEDULER_LOOP, (performance.now() - started) / 1000);
    }
  }

  /** A replacement for a task of a down node takes over from it: that task is orphaned with the placement. */
  private withOrphan(p: Placement): TaskPlacement {
    const replaces = this.cluster.task(p.taskId)?.replaces;
    const original = replaces === undefined ? undefined : this.cluster.task(replaces);
    const node = original?.nodeName === undefined ? undefined : this.cluster.node(original.nodeName);
    if (!original || node?.state !== 'down') return p;
    const since = node.downSince ? ` since ${node.downSince}` : '';
    return { ...p, orphan: { taskId: original.id, message: `node ${node.name} down${since}, replaced by ${p.taskId}` } };
  }
}

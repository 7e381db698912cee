import { Logger } from '@nestjs/common';
import { after, type Loop, RevisionWatermark, Trigger } from '@berth/reconcile';
import { schedule, type Placement } from '@berth/scheduler';
import type { LeaderFence, SchedulerWrites, TaskPlacement } from '@berth/store';
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
  /**
   * Tasks that may be waiting for a node (none yet, desired running), kept from the cache's
   * changes once it is synced. A pass while there are none skips the walk over every task: that
   * walk is what passes cost while thousands of placed tasks report their states.
   */
  private unplaced: Set<string> | undefined;

  constructor(
    /** The only holder of SchedulerWrites: nothing else writes a task's nodeName. */
    private readonly store: SchedulerWrites,
    private readonly fence: LeaderFence,
    private readonly cluster: ClusterCache,
    private readonly metrics: ControlPlaneMetrics,
    private readonly opts: SchedulerLoopOptions = {},
  ) {
    this.watermark = new RevisionWatermark(opts.now);
  }

  async run(signal: AbortSignal): Promise<void> {
    const off = this.cluster.subscribe((c) => {
      if (c.kind === 'task') {
        this.watermark.observe(c.revision);
        this.track(c.id);
      }
      this.trigger.kick();
    });
    // Counted from the cache when scraped, not on every pass.
    this.metrics.countClusterFrom(() => ({
      tasks: this.cluster.tasks(),
      nodes: this.cluster.nodes(),
      rollouts: new Map(this.cluster.allServices().flatMap((s) => {
        const rollout = this.cluster.rollout(s.meta.name);
        return rollout ? [[s.meta.name, rollout] as const] : [];
      })),
    }));
    try {
      await this.cluster.synced();
      this.unplaced = new Set();
      for (const t of this.cluster.tasks()) this.track(t.id);
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
      this.metrics.countClusterFrom(undefined);
    }
  }

  private track(id: string): void {
    if (!this.unplaced) return;
    const t = this.cluster.task(id);
    if (t && t.nodeName === undefined && t.desiredState === 'running') this.unplaced.add(id);
    else this.unplaced.delete(id);
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
    if (this.unplaced?.size === 0) {
      this.metrics.setPendingTasks(0);
      return undefined;
    }
    const started = performance.now();
    try {
      const tasks = this.cluster.tasks();
      const nodes = this.cluster.nodes();
      const input = schedulingInput(tasks, (name) => this.cluster.service(name), nodes, { now: this.now(), rejectionCooldownMs: this.opts.rejectionCooldownMs });
      this.metrics.setPendingTasks(input.pending.length);
      if (input.pending.length === 0) return undefined;
      const result = schedule(input);
      this.metrics.countPlacements(result.placements.length, result.unschedulable.length);
      // The cache's records go along: placing needs no read of the tasks back from etcd first.
      const placed = await this.store.assignNodes(
        result.placements.map((p) => this.withOrphan(p)),
        this.fence,
        (id) => this.cluster.task(id),
      );
      const changed = new Map(result.unschedulable.filter((u) => this.cluster.task(u.taskId)?.status.message !== u.explanation).map((u) => [u.taskId, u.explanation]));
      const noted = changed.size > 0 ? await this.store.recordUnschedulable(changed, this.fence) : { written: [] };
      const revisions = [placed.revision, noted.revision].filter((r): r is string => r !== undefined);
      if (revisions.length > 0) this.watermark.expect(PASS, revisions.sort((a, b) => (BigInt(a) < BigInt(b) ? 1 : -1))[0]);
      return input.nextExpiryMs;
    } finally {
      this.metrics.observeReconcile(SCHEDULER_LOOP, (performance.now() - started) / 1000);
    }
  }

  /**
   * A replacement for a task of a down node, or of a node the operator removed, takes over from
   * it: that task is orphaned with the placement.
   */
  private withOrphan(p: Placement): TaskPlacement {
    const replaces = this.cluster.task(p.taskId)?.replaces;
    const original = replaces === undefined ? undefined : this.cluster.task(replaces);
    if (original?.nodeName === undefined) return p;
    const node = this.cluster.node(original.nodeName);
    if (node === undefined) return { ...p, orphan: { taskId: original.id, message: `node ${original.nodeName} was removed, replaced by ${p.taskId}` } };
    if (node.state !== 'down') return p;
    const since = node.downSince ? ` since ${node.downSince}` : '';
    return { ...p, orphan: { taskId: original.id, message: `node ${node.name} down${since}, replaced by ${p.taskId}` } };
  }
}

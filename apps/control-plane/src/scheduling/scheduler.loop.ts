import { Logger } from '@nestjs/common';
import type { NodeInfo, Service } from '@berth/core';
import type { Loop } from '@berth/reconcile';
import { schedule } from '@berth/scheduler';
import type { Informer, LeaderFence, Store, TaskRecord } from '@berth/store';
import { after, runWithInformers } from '../leader/signals';
import { RevisionWatermark } from '../leader/watermark';
import { NodeGrace } from '../nodes/node-grace';
import type { ControlPlaneMetrics } from '../observability/metrics';
import { schedulingInput } from './snapshot';

export const SCHEDULER_LOOP = 'scheduler';

export interface SchedulerLoopOptions {
  /** Grace after the term starts during which absent nodes are `unknown` (nothing is placed on them). */
  readonly graceMs: number;
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
 * `schedule()` → placements and explanations, written in fenced batches. Any task, node or service
 * change marks the loop dirty; passes run one at a time, so a burst of events costs one pass.
 */
export class SchedulerLoop implements Loop {
  readonly name = SCHEDULER_LOOP;
  private readonly log = new Logger('scheduler');
  private readonly services: Informer<Service>;
  private readonly tasks: Informer<TaskRecord>;
  private readonly nodes: Informer<NodeInfo>;
  private readonly watermark: RevisionWatermark;
  private readonly grace: NodeGrace;
  private dirty = true;
  private wake: (() => void) | undefined;
  /** When the earliest scheduled re-pass for an ending rejection cooldown fires (epoch ms). */
  private recheckAt: number | undefined;

  constructor(
    private readonly store: Store,
    private readonly fence: LeaderFence,
    private readonly metrics: ControlPlaneMetrics,
    private readonly opts: SchedulerLoopOptions,
  ) {
    this.services = store.serviceInformer();
    this.tasks = store.taskInformer();
    this.nodes = store.nodeInformer();
    this.watermark = new RevisionWatermark(opts.now);
    this.grace = new NodeGrace(opts.graceMs, opts.now);
  }

  async run(signal: AbortSignal): Promise<void> {
    const kick = (): void => this.kick();
    const offs = [this.services.subscribe(kick), this.watermark.follow(this.tasks, kick), this.nodes.subscribe(kick)];
    try {
      const informers = { services: this.services, tasks: this.tasks, nodes: this.nodes };
      await runWithInformers(informers, { name: 'scheduler passes', run: (s) => this.passes(s) }, signal);
    } finally {
      offs.forEach((off) => off());
    }
  }

  private kick(): void {
    this.dirty = true;
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  private async passes(signal: AbortSignal): Promise<void> {
    const onAbort = (): void => this.kick();
    signal.addEventListener('abort', onAbort, { once: true });
    // Nodes still away when the grace ends become down: look again then.
    after(this.grace.remainingMs, signal, () => this.kick());
    try {
      while (!signal.aborted) {
        if (!this.dirty) await new Promise<void>((resolve) => (this.wake = resolve));
        if (signal.aborted) break;
        this.dirty = false;
        try {
          const recheckMs = await this.pass();
          if (recheckMs !== undefined) this.recheckAfter(recheckMs, signal);
        } catch (e) {
          this.log.warn(`scheduling pass failed: ${e instanceof Error ? e.message : String(e)}`);
          after(this.opts.retryMs ?? 1_000, signal, () => this.kick());
        }
      }
    } finally {
      signal.removeEventListener('abort', onAbort);
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
      this.kick();
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
      const tasks = this.tasks.list();
      const nodes = this.grace.viewAll(this.nodes.list());
      this.metrics.setClusterCounts(tasks, nodes);
      const input = schedulingInput(tasks, (name) => this.services.get(name), nodes, { now: this.now(), rejectionCooldownMs: this.opts.rejectionCooldownMs });
      this.metrics.setPendingTasks(input.pending.length);
      if (input.pending.length === 0) return undefined;
      const result = schedule(input);
      this.metrics.countPlacements(result.placements.length, result.unschedulable.length);
      const placed = await this.store.assignNodes(result.placements, this.fence);
      const changed = new Map(result.unschedulable.filter((u) => this.tasks.get(u.taskId)?.status.message !== u.explanation).map((u) => [u.taskId, u.explanation]));
      const noted = changed.size > 0 ? await this.store.recordUnschedulable(changed, this.fence) : { written: [] };
      const revisions = [placed.revision, noted.revision].filter((r): r is string => r !== undefined);
      if (revisions.length > 0) this.watermark.expect(PASS, revisions.sort((a, b) => (BigInt(a) < BigInt(b) ? 1 : -1))[0]);
      return input.nextExpiryMs;
    } finally {
      this.metrics.observeReconcile(SCHEDULER_LOOP, (performance.now() - started) / 1000);
    }
  }
}

import { canonicalJson, isRolloutDone, isTaskCurrent, isTaskUp, isTerminal, type Rollout, type Service, type Task, type UpdateConfig } from '@berth/core';
import type { PlannedTask } from './plan';
import { restartDecision } from './restart';
import { isActive, neverAssigned, newest, unschedulable } from './task-facts';

/** How long after a stop ended a replacement's older "cannot be placed" is not yet held against it. */
const RESCHEDULE_GRACE_MS = 5_000;

/**
 * The rolling update of one service, level-triggered and pure: from the service, its tasks and
 * the stored rollout record, which slots start their replacement now, which old tasks stop, and
 * the record to store. Swarm's model, with its knobs (UpdateConfig):
 * - at most `parallelism` slots are in flight (0 = all); a slot is in flight from the moment its
 *   replacement is created until that replacement has been up for `monitor`, and also while a
 *   replacement that failed is retried — a failing slot never frees its place (with
 *   `failureAction: continue`, once failures exceed the ratio, it does: the rollout goes on);
 * - a new slot starts no sooner than `delay` after the last replacement became updated;
 * - stop-first stops the old task as its replacement is created; start-first keeps it until the
 *   replacement is updated;
 * - a replacement that ends, is rejected or turns unhealthy before its monitor ends is an update
 *   failure; once failures exceed `maxFailureRatio` of the slots, `failureAction` applies:
 *   pause (no further slot starts), rollback (the leader restores the previous revision and rolls
 *   that out with the `rollback` knobs), or continue.
 * A service's first revision has nothing to protect: its failures only follow the restart policy.
 */
export interface RolloutInput {
  readonly service: Service;
  /** Every task of the service by slot. */
  readonly slots: ReadonlyMap<number, readonly PlannedTask[]>;
  /** The slots the service has now (slot → pinned node for global services). */
  readonly wanted: ReadonlyMap<number, string | undefined>;
  /** Slots that failover or drain are moving: their replacement is current by construction. */
  readonly moving: ReadonlySet<number>;
  readonly stored: Rollout | undefined;
  readonly now: number;
}

export interface RolloutPlan {
  /** Slots whose replacement is created now, with the task to stop at once: the old one (stop-first) or the failed attempt it retries. */
  readonly start: readonly { readonly slot: number; readonly retire?: PlannedTask }[];
  /** Old tasks whose replacement is updated (start-first), or that a stop-first start retires. */
  readonly retire: readonly PlannedTask[];
  /** The record as it stands after this plan; written when it differs from the stored one. */
  readonly rollout: Rollout;
  /** Set when the failure action is rollback: restore this revision (and record `rollout` with it). */
  readonly rollback?: { readonly toRevision: number; readonly reason: string };
  readonly requeueAfterMs?: number;
}

export function planRollout(input: RolloutInput): RolloutPlan {
  const { service, now } = input;
  const base = startOrContinue(input);
  const config: UpdateConfig = base.rollbackOf === undefined ? service.spec.update : service.spec.rollback;
  const since = Date.parse(base.startedAt);
  const control = service.meta.rolloutControl?.revision === service.meta.revision ? service.meta.rolloutControl : undefined;
  const resumedAt = control?.action === 'resume' ? Date.parse(control.at) : undefined;
  // Failures before a `resume` are forgiven: the operator looked and let it go on.
  const failuresSince = Math.max(since, resumedAt ?? -Infinity);

  const wake = new Wake(now);
  const retire: PlannedTask[] = [];
  const stale: { slot: number; old: PlannedTask }[] = [];
  const retries: { slot: number; retire: PlannedTask }[] = [];
  const failures: PlannedTask[] = [];
  let updated = 0;
  let inFlight = 0;
  /** Slots in flight because their replacement failed and is being retried. */
  let failing = 0;
  let lastUpdatedAt = -Infinity;
  let unplaceable: PlannedTask | undefined;
  const stopping = [...input.slots.values()].some((ts) => ts.some((t) => t.desiredState === 'shutdown' && !isTerminal(t.status.state) && t.nodeName));
  // A stop that ended after the scheduler's "cannot be placed" may have freed what it missed (a
  // stop-first update handing over a host port): that verdict is news only once the scheduler has
  // had a moment to look again.
  const lastStop = Math.max(0, ...[...input.slots.values()].flat().filter((t) => t.desiredState === 'shutdown' && isTerminal(t.status.state)).map(endedAt));
  const verdictPredatesStop = (t: Task): boolean => endedAt(t) <= lastStop && now < lastStop + RESCHEDULE_GRACE_MS;

  for (const [slot, tasks] of input.slots) {
    failures.push(...tasks.filter((t) => isTaskCurrent(t, service) && isUpdateFailure(t, config.monitorMs, failuresSince)));
    if (!input.wanted.has(slot) || input.moving.has(slot)) continue;
    const live = tasks.filter(isActive);
    const old = live.find((t) => !isTaskCurrent(t, service));
    const fresh = live.find((t) => isTaskCurrent(t, service));
    if (fresh) {
      const upSince = upSinceOf(fresh);
      if (upSince !== undefined && now >= upSince + config.monitorMs) {
        updated++;
        lastUpdatedAt = Math.max(lastUpdatedAt, upSince + config.monitorMs);
        if (old) retire.push(old); // start-first: the replacement has proven itself
      } else {
        inFlight++;
        if (upSince !== undefined && !isRolloutDone(base)) wake.at(upSince + config.monitorMs);
        if (unschedulable(fresh) && !stopping) {
          if (!verdictPredatesStop(fresh)) unplaceable ??= fresh;
          else wake.at(lastStop + RESCHEDULE_GRACE_MS);
        }
      }
      continue;
    }
    // A task berth stopped is no attempt: after a rollback, the old task an update stopped is current again.
    const attempt = newest(tasks.filter((t) => isTaskCurrent(t, service) && isTerminal(t.status.state) && !stoppedByBerth(t) && endedAt(t) >= since));
    if (!old) {
      // Stop-first, the replacement ended: the restart policy retries it (planSlot); still in flight.
      // A slot left with nothing (or only ended tasks of an older template): planSlot creates its
      // replacement now, in flight from that moment.
      const latest = newest(tasks);
      if (attempt || latest === undefined || !isTaskCurrent(latest, service)) inFlight++;
      if (attempt) failing++;
      continue;
    }
    if (!attempt) {
      stale.push({ slot, old });
      continue;
    }
    // Start-first, the replacement ended while the old task still serves: retried with the
    // restart backoff, never in a tight loop; the slot stays in flight meanwhile.
    inFlight++;
    failing++;
    const decision = restartDecision(service, tasks.filter((t) => isTaskCurrent(t, service)), attempt, now);
    if (decision.kind === 'now') retries.push({ slot, retire: attempt }); // stopped like planSlot's restarts, so history trims it
    else if (decision.kind === 'later') wake.after(decision.afterMs);
  }

  const total = input.wanted.size;
  const oldLeft = [...input.wanted.keys()].some((slot) => (input.slots.get(slot) ?? []).some((t) => isActive(t) && !isTaskCurrent(t, service)));
  const counts = { total, updated, failed: failures.length };
  let rollout: Rollout = { ...base, ...counts };
  let rollback: RolloutPlan['rollback'];
  const protects = base.previousRevision !== undefined;
  const lastFailure = newest(failures);
  const exceeded = failures.length / Math.max(1, total) > config.maxFailureRatio;
  // With `continue`, failures beyond the ratio no longer hold the rollout up: failing slots keep
  // being retried by the restart policy, and the other slots go on.
  const held = config.failureAction === 'continue' && exceeded ? inFlight - failing : inFlight;

  if (isRolloutDone(base)) {
    // Done stays done for this revision, as recorded: later crashes are the restart policy's business.
    rollout = base;
  } else if (!oldLeft && updated === total) {
    rollout = done(rollout, now);
  } else if (base.state === 'paused' && base.pausedAt !== undefined && !(resumedAt !== undefined && resumedAt > Date.parse(base.pausedAt))) {
    rollout = base.reason === undefined ? { ...rollout, state: 'paused' } : { ...rollout, state: 'paused', reason: base.reason };
  } else if (control?.action === 'pause') {
    rollout = { ...rollout, state: 'paused', reason: 'paused by the operator', pausedAt: control.at };
  } else if (protects && lastFailure && exceeded && config.failureAction !== 'continue') {
    const reason = failureReason(lastFailure, failures.length, total, config.monitorMs);
    if (config.failureAction === 'rollback' && base.rollbackOf === undefined) {
      rollback = { toRevision: base.previousRevision!, reason };
      rollout = { ...rollout, state: 'rolling-back', reason };
    } else {
      rollout = { ...rollout, state: 'paused', reason: base.rollbackOf === undefined ? reason : `rollback paused: ${reason}`, pausedAt: new Date(now).toISOString() };
    }
  } else if (protects && unplaceable) {
    // Not sticky: once a node fits the replacement, the rollout goes on by itself.
    rollout = { ...rollout, state: 'paused', reason: `${unplaceable.id} cannot be placed: ${unplaceable.status.message}` };
  } else {
    rollout = active(rollout);
  }

  const start: { slot: number; retire?: PlannedTask }[] = [];
  if (rollout.state === 'updating' || rollout.state === 'rolling-back') {
    start.push(...retries);
    const delayEnds = lastUpdatedAt + config.delayMs;
    const budget = config.parallelism === 0 ? stale.length : Math.max(0, config.parallelism - held);
    if (stale.length > 0 && budget > 0 && config.delayMs > 0 && lastUpdatedAt >= since && now < delayEnds) {
      wake.at(delayEnds);
    } else if (rollback === undefined) {
      for (const { slot, old } of stale.sort((a, b) => a.slot - b.slot).slice(0, budget)) {
        const stopFirst = config.order === 'stop-first' || neverAssigned(old);
        start.push(stopFirst ? { slot, retire: old } : { slot });
      }
    }
  }
  return {
    start,
    retire,
    rollout: { ...rollout, updatedAt: new Date(now).toISOString() },
    ...(rollback ? { rollback } : {}),
    ...(wake.ms() === undefined ? {} : { requeueAfterMs: wake.ms() }),
  };
}

/**
 * The record an automatic rollback starts with, for the revision that restores the previous spec:
 * it protects nothing further back (its failure action is pause or continue) and keeps the reason.
 */
export function rollbackRollout(failed: Rollout, now: number): (revision: number) => Rollout {
  const at = new Date(now).toISOString();
  return (revision) => ({
    revision,
    state: 'rolling-back',
    previousRevision: failed.revision,
    rollbackOf: failed.revision,
    total: failed.total,
    updated: 0,
    failed: 0,
    ...(failed.reason === undefined ? {} : { reason: failed.reason, rollbackReason: failed.reason }),
    startedAt: at,
    updatedAt: at,
  });
}

/** Whether two records say the same, apart from when they were written. */
export function sameRollout(a: Rollout | undefined, b: Rollout): boolean {
  return a !== undefined && canonicalJson({ ...a, updatedAt: '' }) === canonicalJson({ ...b, updatedAt: '' });
}

/** The stored record of this revision, or a new one when the service has a revision it has not seen. */
function startOrContinue(input: RolloutInput): Rollout {
  const { service, stored, now } = input;
  if (stored?.revision === service.meta.revision) return stored;
  // The last revision that rolled out, or that a rollback was restoring (never the failed one).
  const settled = stored !== undefined && (isRolloutDone(stored) || stored.rollbackOf !== undefined);
  const previous = stored === undefined ? undefined : settled ? stored.revision : stored.previousRevision;
  const at = new Date(now).toISOString();
  return {
    revision: service.meta.revision,
    state: 'updating',
    // A record lost (or a leader older than rollouts): the revision before is the best guess.
    ...(previous !== undefined ? { previousRevision: previous } : service.meta.revision > 1 ? { previousRevision: service.meta.revision - 1 } : {}),
    total: input.wanted.size,
    updated: 0,
    failed: 0,
    startedAt: at,
    updatedAt: at,
  };
}

function done(r: Rollout, now: number): Rollout {
  const { pausedAt: _paused, reason: _reason, ...rest } = r;
  const rolledBack = r.rollbackOf !== undefined;
  const reason = r.rollbackReason ?? r.reason;
  return {
    ...rest,
    state: rolledBack ? 'rolled-back' : 'completed',
    ...(rolledBack && reason !== undefined ? { reason } : {}),
    completedAt: r.completedAt ?? new Date(now).toISOString(),
  };
}

function active(r: Rollout): Rollout {
  const { pausedAt: _paused, completedAt: _completed, reason: _reason, ...rest } = r;
  const rollingBack = r.rollbackOf !== undefined;
  const reason = r.rollbackReason ?? r.reason;
  // A rollback keeps saying why it rolls back; an update that goes on again has nothing to explain.
  return { ...rest, state: rollingBack ? 'rolling-back' : 'updating', ...(rollingBack && reason !== undefined ? { reason } : {}) };
}

/** `web.2.k3x failed (exited with code 3) within monitor; 1 update failure for 4 slots`. */
function failureReason(t: Task, failed: number, total: number, monitorMs: number): string {
  const { state, message, exitCode } = t.status;
  const why = message ?? (exitCode === undefined ? undefined : `exited with code ${exitCode}`);
  const within = monitorMs > 0 ? ' within monitor' : '';
  return `${t.id} ${state}${why ? ` (${why})` : ''}${within}; ${failed} update ${failed === 1 ? 'failure' : 'failures'} for ${total} ${total === 1 ? 'slot' : 'slots'}`;
}

/**
 * A replacement that ended on its own — failed, rejected, or even completed — before it had been
 * up for `monitorMs`, after `since`. A node loss (orphaned) or a stop berth asked for is not one.
 */
function isUpdateFailure(t: PlannedTask, monitorMs: number, since: number): boolean {
  const s = t.status.state;
  if (s !== 'failed' && s !== 'rejected' && s !== 'complete') return false;
  if (endedAt(t) < since) return false;
  // Never up (a health check that never passed, an image that never ran), or up for less than monitor.
  const upAt = t.status.upAt ?? (t.template?.healthCheck === undefined ? t.status.startedAt : undefined);
  const up = upAt === undefined ? NaN : Date.parse(upAt);
  return Number.isNaN(up) || endedAt(t) - up < monitorMs;
}

/**
 * Since when a task up now has been up: the store's `upAt` (first up: running, and healthy when
 * checked); for records from before it, healthy since the last status change, or running since start.
 */
function upSinceOf(t: PlannedTask): number | undefined {
  if (!isTaskUp(t)) return undefined;
  const checked = t.template?.healthCheck !== undefined || t.status.health !== undefined;
  const at = Date.parse(t.status.upAt ?? (checked ? t.status.updatedAt : (t.status.startedAt ?? t.status.updatedAt)));
  return Number.isNaN(at) ? undefined : at;
}

function endedAt(t: Task): number {
  const at = Date.parse(t.status.updatedAt);
  return Number.isNaN(at) ? 0 : at;
}

function stoppedByBerth(t: Task): boolean {
  return t.desiredState === 'shutdown' && t.status.state === 'shutdown';
}

/** The earliest time the plan should be made again. */
class Wake {
  private soonest: number | undefined;
  constructor(private readonly now: number) {}
  at(time: number): void {
    this.after(time - this.now);
  }
  after(ms: number): void {
    const v = Math.max(1, Math.ceil(ms));
    this.soonest = this.soonest === undefined ? v : Math.min(this.soonest, v);
  }
  ms(): number | undefined {
    return this.soonest;
  }
}

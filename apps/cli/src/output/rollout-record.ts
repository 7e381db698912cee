import type { RolloutView, ServiceView } from '@berth/api';

/** The rollout a wait follows: the leader's record of one service revision (`status.rollout`). */
export interface RolloutTarget {
  /** The revision waited for: the one the write (or undo, restart) made, or the current one. */
  readonly revision: number;
  /** The revision a rollback returns to, when known (the record's previousRevision, else the one before the write). */
  readonly previous?: number;
  /** Set once the leader was seen rolling the revision back. */
  readonly rollingBack?: boolean;
}

/** How a wait for one service ended: `converged`, or a rollout `paused` or `rolled-back` (exit 3). */
export type WaitResult = 'converged' | 'paused' | 'rolled-back';

export type Assessment =
  | { readonly kind: 'done'; readonly line: string }
  | { readonly kind: 'waiting'; readonly line: string; readonly missing: string }
  /** A new task failed (new service, pure scale): exit 1. */
  | { readonly kind: 'failed'; readonly line: string; readonly message: string }
  /** The rollout paused or was rolled back: nothing more happens by itself (exit 3). */
  | { readonly kind: 'stopped'; readonly line: string; readonly message: string; readonly result: Exclude<WaitResult, 'converged'> }
  /** A newer revision replaced the one waited for (exit 1). */
  | { readonly kind: 'superseded'; readonly line: string; readonly message: string };

const ROLLBACK_STATES: ReadonlySet<string> = new Set(['rolling-back', 'rolled-back']);

/**
 * Pure: what one more look at the service teaches about the followed rollout. The record of the
 * revision itself names the revision a rollback returns to; a rollback seen once stays known, so
 * a rollback that pauses later is still reported as one.
 */
export function learnRollout(t: RolloutTarget, service: ServiceView): RolloutTarget {
  const r = service.status.rollout;
  if (!r) return t;
  if (!t.rollingBack && rollbackRecord(t, service)) return { ...t, rollingBack: true };
  if (!t.rollingBack && r.revision === t.revision && r.previousRevision !== undefined && r.previousRevision !== t.previous) {
    return { ...t, previous: r.previousRevision };
  }
  return t;
}

/**
 * The record of a rollback of the followed revision, if the service shows one: either the
 * revision's own record says so (the leader marks it rolling-back as it writes the rollback), or
 * (`failureAction: rollback`) the leader wrote the next revision with the previous spec and rolls
 * that out (its record has `rollbackOf`).
 */
function rollbackRecord(t: RolloutTarget, service: ServiceView): RolloutView | undefined {
  const r = service.status.rollout;
  if (!r) return undefined;
  const isRollback = ROLLBACK_STATES.has(r.state) || r.rollbackOf !== undefined || t.rollingBack === true;
  if (r.revision === t.revision) return isRollback ? r : undefined;
  const next = service.metadata.revision === t.revision + 1 && r.revision === t.revision + 1;
  return next && isRollback && (r.rollbackOf === undefined || r.rollbackOf === t.revision) ? r : undefined;
}

/**
 * Pure: where the rollout of one revision stands, from the service as the API shows it and what
 * else keeps it from having converged (`gaps`: "1 more to run", …; empty when nothing does).
 * - done: the leader completed it and nothing else is missing;
 * - stopped: it paused, or it was rolled back (the rollback itself followed until it ends);
 * - superseded: the service moved on to another revision (someone changed it again);
 * - waiting otherwise, with a progress line built from the record's counters.
 */
export function assessRevision(name: string, t: RolloutTarget, service: ServiceView, gaps: readonly string[]): Assessment {
  const back = rollbackRecord(t, service);
  if (back) return assessRollback(name, t, back);
  const r = service.status.rollout;
  const current = service.metadata.revision;
  if (current !== t.revision) {
    // The leader writes a rollback as the next revision; until its record shows, wait and see.
    if (current === t.revision + 1 && (r === undefined || r.revision < current)) {
      const line = `${name}: revision ${current} replaced revision ${t.revision}; waiting for its rollout`;
      return { kind: 'waiting', line, missing: line };
    }
    const line = `${name}: superseded by revision ${current}`;
    const why = current > t.revision ? 'the service was changed again' : 'the service was deleted and created again';
    return { kind: 'superseded', line, message: `${name}: revision ${t.revision} did not roll out: the service is at revision ${current} now (${why})` };
  }
  const running = service.status.running < service.status.desired ? [`${service.status.running}/${service.status.desired} running`] : [];
  if (r === undefined || r.revision !== t.revision) {
    const line = `${name}: waiting for the rollout of revision ${t.revision} to start`;
    return { kind: 'waiting', line, missing: withGaps(line, gaps) };
  }
  const progress = `${r.updated}/${r.total}`;
  if (r.state === 'paused') {
    const line = `${name}: paused at ${progress} (revision ${t.revision})${because(r)}`;
    return { kind: 'stopped', line, result: 'paused', message: pausedMessage(name, `rollout paused${because(r)}`, r, t.previous) };
  }
  const failed = r.failed > 0 ? [`${r.failed} failed`] : [];
  const line = `${name}: ${r.state === 'completed' ? 'updated' : 'updating'} ${progress} (${[`revision ${t.revision}`, ...failed, ...running].join('; ')})`;
  if (r.state === 'completed' && gaps.length === 0) return { kind: 'done', line };
  return { kind: 'waiting', line, missing: withGaps(line, gaps) };
}

/** A rollback of the followed revision: followed until it ends, then exit 3 with the reason. */
function assessRollback(name: string, t: RolloutTarget, r: RolloutView): Assessment {
  // Its own record names the revision that failed, not the one it restores: that one is known
  // only from the record of the failed revision (or from before the write).
  const to = t.previous !== undefined ? `to revision ${t.previous}` : r.rollbackOf !== undefined ? `from revision ${r.rollbackOf}` : `(revision ${r.revision})`;
  if (r.state === 'rolled-back' || r.state === 'completed') {
    const line = `${name}: rolled back ${to}${because(r)}`;
    return { kind: 'stopped', line, result: 'rolled-back', message: line };
  }
  if (r.state === 'paused') {
    // The leader says "rollback paused: <why>"; the line says it already.
    const why = r.reason ? `: ${r.reason.replace(/^rollback paused: /, '')}` : '';
    const line = `${name}: rollback ${to} paused at ${r.updated}/${r.total}${why}`;
    return { kind: 'stopped', line, result: 'paused', message: pausedMessage(name, `rollback ${to} paused${why}`, r) };
  }
  const line = `${name}: rolling back ${to} (${r.updated}/${r.total})${because(r)}`;
  return { kind: 'waiting', line, missing: line };
}

/** The exit-3 message of a paused rollout: why, how far it got, and what the operator can do. */
function pausedMessage(name: string, headline: string, r: RolloutView, previous?: number): string {
  const undo = `"berth rollout undo ${name}" goes back${previous === undefined ? '' : ` to revision ${previous}`}`;
  const detail = `  revision ${r.revision}: ${r.updated}/${r.total} updated, ${r.failed} failed; "berth rollout resume ${name}" continues it, ${undo}`;
  return `${name}: ${headline}\n${detail}`;
}

function because(r: RolloutView): string {
  return r.reason ? `: ${r.reason}` : '';
}

function withGaps(line: string, gaps: readonly string[]): string {
  return gaps.length === 0 ? line : `${line} (${gaps.join('; ')})`;
}

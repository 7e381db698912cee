import { setTimeout as delay } from 'node:timers/promises';
import { Trigger } from '@berth/reconcile';
import type { Assignment, LocalTask } from './model';
import { planWorker } from './reconcile';
import { TaskRunner, type RunnerDeps } from './task-runner';

/** A failed cleanup is retried after this long, doubling after each failure up to the max. */
const CLEANUP_RETRY_FIRST_MS = 1_000;
const CLEANUP_RETRY_MAX_MS = 60_000;

export interface WorkerDeps extends RunnerDeps {
  readonly log: (line: string) => void;
  /** Waits `ms`, or less once `signal` aborts; never rejects. A real timer unless tests inject one. */
  readonly sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
}

/**
 * Converges this node's tasks to the control plane's assignments. Level-triggered: every change
 * of assignments (or a task ending) only wakes the loop, which recomputes the whole plan, so a
 * missed or repeated message costs nothing but a pass.
 *
 * The worker never stops tasks on its own shutdown: containers outlive the agent (conmon holds
 * them) and are re-adopted by `recover()` on the next start. A task the control plane dropped is
 * cleaned up until that succeeds, across restarts: its state file goes last.
 */
export class Worker {
  private readonly assigned = new Map<string, Assignment>();
  private readonly runners = new Map<string, TaskRunner>();
  /** Tasks being taken off the node, their cleanup retried until it succeeds; not in `tasks()`. */
  private readonly leaving = new Map<string, TaskRunner>();
  private readonly inflight = new Set<Promise<void>>();
  private readonly trigger = new Trigger();
  /** Until the first full assignment set arrives, nothing local is forgotten. */
  private haveFullSet = false;

  constructor(private readonly deps: WorkerDeps) {}

  /**
   * Loads the state files and makes a runner for each task found there. Call once, before `run`.
   * Resolves as soon as the files are read: re-adopting the tasks (or finishing the cleanup of
   * ones being forgotten) asks the runtime and goes on in the background, so the agent's Hello
   * is not held up by it.
   */
  async recover(signal: AbortSignal): Promise<void> {
    for (const task of await this.deps.states.loadAll()) {
      const runner = new TaskRunner(this.deps, task);
      if (task.forgotten) {
        this.forget(runner, signal);
      } else {
        this.runners.set(task.assignment.taskId, runner);
        this.track(runner.adopt(signal), task.assignment.taskId);
      }
    }
  }

  /** Applies an assignment message: a full set replaces everything, an increment patches. */
  assign(msg: { full: boolean; upsert: readonly Assignment[]; remove: readonly string[] }): void {
    if (msg.full) {
      this.assigned.clear();
      this.haveFullSet = true;
    }
    for (const a of msg.upsert) this.assigned.set(a.taskId, a);
    for (const id of msg.remove) this.assigned.delete(id);
    this.kick();
  }

  /**
   * The node has been cut off from the control plane for `ms`: it may replace fenced tasks from
   * now on, so they stop here first (the other tasks keep running: availability first).
   */
  fence(ms: number): void {
    for (const [id, runner] of this.runners) {
      if (!runner.current.assignment.fenced || runner.stopRequested) continue;
      this.track(runner.stop(`stopped by its node: no contact with the control plane for ${ms / 1000}s (fencing)`), id);
    }
  }

  /**
   * Every task this node knows, with its latest status (sent in Hello after a reconnect). Tasks
   * still being cleaned up are left out: the control plane has already dropped them.
   */
  tasks(): LocalTask[] {
    return [...this.runners.values()].map((r) => r.current);
  }

  async run(signal: AbortSignal): Promise<void> {
    try {
      while (!signal.aborted) {
        await this.trigger.wait(signal);
        if (!signal.aborted) this.reconcile(signal);
      }
    } finally {
      await Promise.allSettled([...this.inflight]);
    }
  }

  private reconcile(signal: AbortSignal): void {
    // Leaving tasks count as known, so an id seen again is never started a second time.
    const local = new Map([...this.runners, ...this.leaving].map(([id, r]) => [id, r.current]));
    const plan = planWorker(this.assigned, local);
    for (const a of plan.start) this.track(this.add(a).run(signal), a.taskId);
    for (const a of plan.skip) this.track(this.add(a).skip(), a.taskId);
    for (const id of plan.stop) {
      const runner = this.runners.get(id)!;
      if (!runner.stopRequested) this.track(runner.stop(), id);
    }
    if (!this.haveFullSet) return;
    for (const id of plan.forget) this.forget(this.runners.get(id)!, signal);
  }

  private add(a: Assignment): TaskRunner {
    const now = this.deps.now();
    const runner = new TaskRunner(this.deps, { assignment: a, status: { state: 'assigned', updatedAt: now.toISOString() } }, now);
    this.runners.set(a.taskId, runner);
    return runner;
  }

  private forget(runner: TaskRunner, signal: AbortSignal): void {
    const id = runner.current.assignment.taskId;
    this.runners.delete(id);
    this.leaving.set(id, runner);
    this.track(this.cleanUp(runner, id, signal), id);
  }

  /**
   * Retries forgetting the task with exponential backoff until it succeeds or the agent stops;
   * then its state file stays, marked forgotten, and the next agent process goes on with it.
   */
  private async cleanUp(runner: TaskRunner, id: string, signal: AbortSignal): Promise<void> {
    const sleep = this.deps.sleep ?? realSleep;
    for (let wait = CLEANUP_RETRY_FIRST_MS; !signal.aborted; wait = Math.min(wait * 2, CLEANUP_RETRY_MAX_MS)) {
      try {
        await runner.forget();
        this.leaving.delete(id);
        return;
      } catch (e) {
        this.deps.log(`task ${id}: cleanup failed, retrying in ${wait / 1000}s: ${messageOf(e)}`);
      }
      await sleep(wait, signal);
    }
  }

  private track(p: Promise<void>, taskId: string): void {
    const tracked = p
      .catch((e: unknown) => this.deps.log(`task ${taskId}: ${messageOf(e)}`))
      .finally(() => {
        this.inflight.delete(tracked);
        this.kick();
      });
    this.inflight.add(tracked);
  }

  private kick(): void {
    this.trigger.kick();
  }
}

function realSleep(ms: number, signal: AbortSignal): Promise<void> {
  return delay(ms, undefined, { signal }).catch(() => undefined);
}

function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

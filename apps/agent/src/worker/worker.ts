import type { Assignment, LocalTask } from './model';
import { planWorker } from './reconcile';
import { TaskRunner, type RunnerDeps } from './task-runner';

/**
 * Converges this node's tasks to the control plane's assignments. Level-triggered: every change
 * of assignments (or a task ending) only wakes the loop, which recomputes the whole plan, so a
 * missed or repeated message costs nothing but a pass.
 *
 * The worker never stops tasks on its own shutdown: containers outlive the agent (conmon holds
 * them) and are re-adopted by `recover()` on the next start.
 */
export class Worker {
  private readonly assigned = new Map<string, Assignment>();
  private readonly runners = new Map<string, TaskRunner>();
  private readonly inflight = new Set<Promise<void>>();
  private wake: (() => void) | undefined;
  private dirty = true;
  /** Until the first full assignment set arrives, nothing local is forgotten. */
  private haveFullSet = false;

  constructor(private readonly deps: RunnerDeps & { readonly log: (line: string) => void }) {}

  /** Loads state files and re-adopts every task found there. Call once, before `run`. */
  async recover(signal: AbortSignal): Promise<void> {
    for (const task of await this.deps.states.loadAll()) {
      const runner = new TaskRunner(this.deps, task);
      this.runners.set(task.assignment.taskId, runner);
      this.track(runner.adopt(signal), task.assignment.taskId);
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

  /** Every task this node knows, with its latest status (sent in Hello after a reconnect). */
  tasks(): LocalTask[] {
    return [...this.runners.values()].map((r) => r.current);
  }

  async run(signal: AbortSignal): Promise<void> {
    const onAbort = () => this.kick();
    signal.addEventListener('abort', onAbort);
    try {
      while (!signal.aborted) {
        if (!this.dirty) await new Promise<void>((resolve) => (this.wake = resolve));
        this.dirty = false;
        if (!signal.aborted) await this.reconcile(signal);
      }
    } finally {
      signal.removeEventListener('abort', onAbort);
      await Promise.allSettled([...this.inflight]);
    }
  }

  private async reconcile(signal: AbortSignal): Promise<void> {
    const local = new Map([...this.runners].map(([id, r]) => [id, r.current]));
    const plan = planWorker(this.assigned, local);
    for (const a of plan.start) {
      const runner = new TaskRunner(this.deps, { assignment: a, status: { state: 'assigned', updatedAt: this.deps.now().toISOString() } });
      this.runners.set(a.taskId, runner);
      this.track(runner.run(signal), a.taskId);
    }
    for (const id of plan.stop) {
      const runner = this.runners.get(id)!;
      if (!runner.stopRequested) this.track(runner.stop(), id);
    }
    if (!this.haveFullSet) return;
    for (const id of plan.forget) {
      const runner = this.runners.get(id)!;
      this.runners.delete(id);
      this.track(this.forget(runner, id), id);
    }
  }

  private async forget(runner: TaskRunner, id: string): Promise<void> {
    await runner.stop();
    await runner.destroy();
    await this.deps.states.remove(id);
  }

  private track(p: Promise<void>, taskId: string): void {
    const tracked = p
      .catch((e: unknown) => this.deps.log(`task ${taskId}: ${e instanceof Error ? e.message : String(e)}`))
      .finally(() => {
        this.inflight.delete(tracked);
        this.kick();
      });
    this.inflight.add(tracked);
  }

  private kick(): void {
    this.dirty = true;
    this.wake?.();
    this.wake = undefined;
  }
}

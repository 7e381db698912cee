import { canTransition, isTerminal, type TaskState } from '@berth/core';
import { HostPortInUseError, type RuntimeDriver, type TaskConfig, type TaskHandle } from '@berth/runtime';
import type { TaskStateStore } from '../state/task-state-store';
import type { Assignment, LocalStatus, LocalTask } from './model';

export interface RunnerDeps {
  readonly driver: RuntimeDriver;
  readonly states: TaskStateStore;
  /** Called after every status change has been persisted. Must not throw. */
  readonly report: (task: LocalTask) => void;
  readonly now: () => Date;
}

/**
 * Drives one task through its life on this node: prepare → start → wait → complete | failed,
 * or → shutdown when asked to stop, or → rejected when prepare finds this node cannot take it.
 * Every status is written to the state file before it is reported, so what the control plane
 * hears survives an agent crash. Never restarts the task.
 */
export class TaskRunner {
  private stopping = false;
  private stopped: Promise<void> | undefined;

  constructor(private readonly deps: RunnerDeps, private task: LocalTask) {}

  get current(): LocalTask {
    return this.task;
  }

  get stopRequested(): boolean {
    return this.stopping;
  }

  /** Runs a task that was never started on this node. Resolves when it is terminal or `signal` aborts. */
  async run(signal: AbortSignal): Promise<void> {
    let handle: TaskHandle;
    try {
      await this.update({ state: 'preparing' });
      handle = await this.deps.driver.prepare(toTaskConfig(this.task.assignment));
      this.task = { ...this.task, handle };
      if (this.stopping) return await this.update({ state: 'shutdown', message: 'stopped before it started' });
      await this.update({ state: 'starting', ...(handle.network?.ip ? { ip: handle.network.ip } : {}) });
      await this.deps.driver.start(handle);
      // A stop that arrived while starting found nothing running yet: deliver it now.
      if (this.stopping) await this.deps.driver.stop(handle, { graceMs: this.task.assignment.spec.stopGracePeriodMs });
    } catch (e) {
      const state = this.stopping ? 'shutdown' : this.task.handle ? 'failed' : prepareFailureState(e);
      return await this.update({ state, message: messageOf(e) });
    }
    await this.watch(handle, signal);
  }

  /**
   * Re-adopts a task found in a state file after an agent restart, without disturbing it: a
   * running container stays the same process; one that ended while the agent was away reports
   * how it ended.
   */
  async adopt(signal: AbortSignal): Promise<void> {
    const { handle, status } = this.task;
    if (isTerminal(status.state)) return;
    if (!handle) return this.run(signal); // crashed during prepare; prepare is idempotent
    if ((await this.deps.driver.recover(handle)) === 'gone') {
      return this.update({ state: 'failed', message: 'task disappeared while the agent was down' });
    }
    const now = await this.deps.driver.inspect(handle);
    if (now.state === 'created') {
      await this.deps.driver.start(handle);
    }
    await this.watch(handle, signal);
  }

  /** Stops the task (grace period from its spec) and records it as shut down. Idempotent. */
  stop(): Promise<void> {
    this.stopping = true;
    this.stopped ??= this.stopNow();
    return this.stopped;
  }

  /** Removes everything the runtime holds for the task. Idempotent. Logs go with it. */
  async destroy(): Promise<void> {
    if (this.task.handle) await this.deps.driver.destroy(this.task.handle);
  }

  private async stopNow(): Promise<void> {
    const { handle } = this.task;
    if (!handle || isTerminal(this.task.status.state)) return;
    await this.deps.driver.stop(handle, { graceMs: this.task.assignment.spec.stopGracePeriodMs });
    // watch() sees the exit and records `shutdown` because `stopping` is set.
  }

  private async watch(handle: TaskHandle, signal: AbortSignal): Promise<void> {
    const status = await this.deps.driver.inspect(handle);
    if (status.state === 'running' && this.task.status.state !== 'running') {
      await this.update({ state: 'running', pid: status.pid, startedAt: this.deps.now().toISOString() });
    }
    let code: number;
    try {
      code = await this.deps.driver.wait(handle, signal);
    } catch (e) {
      if (signal.aborted) return; // agent shutting down: the task keeps running, we re-adopt it later
      return this.update({ state: 'failed', message: messageOf(e) });
    }
    if (this.stopping) return this.update({ state: 'shutdown', exitCode: code });
    await this.update(code === 0 ? { state: 'complete', exitCode: 0 } : { state: 'failed', exitCode: code, message: `exited with code ${code}` });
  }

  private async update(change: Omit<LocalStatus, 'updatedAt'>): Promise<void> {
    if (!canTransition(this.task.status.state, change.state)) return; // states only move forward
    const keep = { ip: this.task.status.ip, pid: this.task.status.pid, startedAt: this.task.status.startedAt };
    const status: LocalStatus = { ...stripUndefined(keep), ...change, updatedAt: this.deps.now().toISOString() };
    this.task = { ...this.task, status };
    await this.deps.states.save(this.task);
    this.deps.report(this.task);
  }
}

export function toTaskConfig(a: Assignment): TaskConfig {
  return {
    taskId: a.taskId,
    service: a.service,
    image: a.spec.image,
    ...(a.spec.command ? { command: a.spec.command } : {}),
    env: a.spec.env,
    resources: a.spec.resources,
    ports: a.spec.ports,
    volumes: a.spec.volumes,
    stopGracePeriodMs: a.spec.stopGracePeriodMs,
  };
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/**
 * How a task ends whose prepare failed. A host port held by something else on this node is the
 * node refusing the task before anything ran (`rejected`): the scheduler avoids the node for the
 * slot's next task instead of the restart landing on the same conflict. Anything else is `failed`.
 */
function prepareFailureState(e: unknown): Extract<TaskState, 'rejected' | 'failed'> {
  return e instanceof HostPortInUseError ? 'rejected' : 'failed';
}

function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

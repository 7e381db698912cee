import { canTransition, isTerminal, type HealthCheck, type TaskState } from '@berth/core';
import { HostPortInUseError, type RuntimeDriver, type TaskConfig, type TaskHandle } from '@berth/runtime';
import type { TaskStateStore } from '../state/task-state-store';
import type { DriverSet } from './drivers';
import { STARTING, unhealthyMessage } from './health';
import { monitorHealth } from './health-monitor';
import { probeFor } from './health-probes';
import type { Assignment, LocalStatus, LocalTask } from './model';

/** Why a task ended that never ran: it was asked to stop before this node started it. */
const STOPPED_BEFORE_START = 'stopped before it started';

export interface RunnerDeps {
  /** This node's drivers: a new task goes to its runtime's, an adopted one to the one that prepared it. */
  readonly drivers: DriverSet;
  readonly states: TaskStateStore;
  /** Called after every status change has been persisted. Must not throw. */
  readonly report: (task: LocalTask) => void;
  readonly now: () => Date;
  /** The agent's metrics, when it exports them (metrics/agent-metrics.ts). */
  readonly metrics?: RunnerMetrics;
}

/** What the runners tell the agent's metrics. Must not throw. */
export interface RunnerMetrics {
  /** A task assigned in this agent process began running, `seconds` after its assignment arrived. */
  taskStarted(seconds: number): void;
}

/**
 * Drives one task through its life on this node: prepare → start → wait → complete | failed,
 * or → shutdown when asked to stop, or → rejected when this node has no driver for the task's
 * runtime or prepare finds this node cannot take it.
 * While a task with a health check runs, its health is checked (health-monitor.ts); an
 * unhealthy task is stopped like any other and recorded `failed` with the checks' verdict.
 * Every status is written to the state file before it is reported, one write at a time, so what
 * the control plane hears survives an agent crash. Never starts a task twice, nor one it was asked
 * to stop, and never restarts it.
 */
export class TaskRunner {
  private stopping = false;
  /** Why the node stopped the task itself (fencing), when it did. */
  private stopReason: string | undefined;
  private stopped: Promise<void> | undefined;
  /** Set once the health check gave up on the task: why it is being stopped. */
  private unhealthy: string | undefined;
  /** Aborts the health check; set while one runs. */
  private healthCheck: AbortController | undefined;
  /** Status writes in order: each persists before the next begins. */
  private writes: Promise<void> = Promise.resolve();
  /**
   * Settles once the runtime calls that bring the task up (prepare and start, or re-adoption's
   * recover and start) have settled. destroy() waits for it, so it never races them and always
   * sees the handle prepare made: otherwise what a late prepare set up would outlive the task.
   */
  private settled: Promise<void> = Promise.resolve();
  /** Set once the task is off the node: nothing about it is saved or reported any more. */
  private closed = false;

  /** `assignedAt`: when this agent process received the assignment; absent for a re-adopted task (its start is not timed). */
  constructor(private readonly deps: RunnerDeps, private task: LocalTask, private readonly assignedAt?: Date) {}

  get current(): LocalTask {
    return this.task;
  }

  get stopRequested(): boolean {
    return this.stopping;
  }

  /** Runs a task that was never started on this node. Resolves when it is terminal or `signal` aborts. */
  async run(signal: AbortSignal): Promise<void> {
    const setup = this.setUp();
    this.settled = setup.then(noop, noop);
    const handle = await setup;
    if (handle) await this.watch(handle, signal);
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
    const reattached = this.reattach(handle);
    this.settled = reattached.then(noop, noop);
    if (await reattached) await this.watch(handle, signal);
  }

  /**
   * Records a task the control plane shut down before this node started it, touching nothing in
   * the runtime: the control plane hears of it and can let its record go.
   */
  skip(): Promise<void> {
    this.stopping = true;
    return this.stoppedBeforeStart();
  }

  /**
   * Stops the task (grace period from its spec) and records it as shut down, with `reason` as its
   * message when given (the first stop's reason wins). Idempotent.
   */
  stop(reason?: string): Promise<void> {
    if (!this.stopping) this.stopReason = reason;
    this.stopping = true;
    this.healthCheck?.abort();
    this.stopped ??= this.stopNow();
    return this.stopped;
  }

  /**
   * Takes the task off this node for good: saves that it is being forgotten (a restarted agent
   * then destroys it instead of re-adopting it), stops it, removes everything the runtime holds
   * for it (logs too), and only then its state file. Nothing about the task is saved or reported
   * afterwards. Throws when a step fails; every step is idempotent, so calling again retries.
   */
  async forget(): Promise<void> {
    this.task = { ...this.task, forgotten: true };
    await this.enqueue(() => this.deps.states.save(this.task));
    // Graceful when it can be; destroy kills whatever is left, so a failed stop must not block it.
    await this.stop().catch(noop);
    await this.destroy();
    this.closed = true;
    await this.writes; // a write already under way lands before the file goes, not after
    await this.deps.states.remove(this.task.assignment.taskId);
  }

  /** Prepares and starts the task; undefined when it ended before running (that is recorded). */
  private async setUp(): Promise<TaskHandle | undefined> {
    const { runtime } = this.task.assignment.spec;
    const driver = this.deps.drivers.forRuntime(runtime);
    if (!driver) {
      await this.update({ state: 'rejected', message: `this node has no driver for runtime ${runtime}` });
      return undefined;
    }
    try {
      await this.update({ state: 'preparing' });
      // Asked to stop while `preparing` was being saved: set nothing up that would only be undone.
      if (this.stopping) {
        await this.stoppedBeforeStart();
        return undefined;
      }
      const handle = await driver.prepare(toTaskConfig(this.task.assignment));
      this.task = { ...this.task, handle };
      if (!this.stopping) await this.update({ state: 'starting', ...(handle.network?.ip ? { ip: handle.network.ip } : {}) });
      return (await this.startUnlessStopping(handle)) ? handle : undefined;
    } catch (e) {
      const state = this.stopping ? 'shutdown' : this.task.handle ? 'failed' : prepareFailureState(e);
      await this.update({ state, message: messageOf(e) });
      return undefined;
    }
  }

  /** Finds an adopted task in the runtime again; false when it ended instead (that is recorded). */
  private async reattach(handle: TaskHandle): Promise<boolean> {
    let driver: RuntimeDriver;
    try {
      driver = this.driver(handle);
    } catch (e) {
      await this.update({ state: 'failed', message: messageOf(e) });
      return false;
    }
    if ((await driver.recover(handle)) === 'gone') {
      await this.update({ state: 'failed', message: 'task disappeared while the agent was down' });
      return false;
    }
    // The agent died while stopping an unhealthy task: finish that, with the verdict it recorded.
    const { status } = this.task;
    if (status.health === 'unhealthy') this.unhealthy = status.message ?? 'health check failed';
    if ((await driver.inspect(handle)).state !== 'created') return true;
    return this.startUnlessStopping(handle);
  }

  /** Starts the prepared task, unless it was asked to stop (recorded as such); true when started. */
  private async startUnlessStopping(handle: TaskHandle): Promise<boolean> {
    if (this.stopping) {
      await this.stoppedBeforeStart();
      return false;
    }
    await this.driver(handle).start(handle);
    // A stop that arrived while starting found nothing running yet: deliver it now.
    if (this.stopping) await this.driver(handle).stop(handle, { graceMs: this.task.assignment.spec.stopGracePeriodMs });
    return true;
  }

  private driver(handle: TaskHandle): RuntimeDriver {
    return this.deps.drivers.forHandle(handle);
  }

  private stoppedBeforeStart(): Promise<void> {
    return this.update({ state: 'shutdown', message: STOPPED_BEFORE_START });
  }

  /** Removes everything the runtime holds for the task, once what brings it up has settled. */
  private async destroy(): Promise<void> {
    await this.settled;
    const { handle } = this.task;
    if (handle) await this.driver(handle).destroy(handle);
  }

  private async stopNow(): Promise<void> {
    const { handle } = this.task;
    if (!handle || isTerminal(this.task.status.state)) return;
    await this.driver(handle).stop(handle, { graceMs: this.task.assignment.spec.stopGracePeriodMs });
    // watch() sees the exit and records `shutdown` because `stopping` is set.
  }

  private async watch(handle: TaskHandle, signal: AbortSignal): Promise<void> {
    const status = await this.driver(handle).inspect(handle);
    const check = this.task.assignment.spec.healthCheck;
    if (status.state === 'running' && this.task.status.state !== 'running') {
      const startedAt = this.deps.now();
      await this.update({ state: 'running', pid: status.pid, startedAt: startedAt.toISOString(), ...(check ? { health: STARTING.health } : {}) });
      if (this.assignedAt) this.deps.metrics?.taskStarted((startedAt.getTime() - this.assignedAt.getTime()) / 1000);
    }
    // Settled into a value, so a failure (a state file that cannot be written) waits for the
    // task's end instead of surfacing as an unhandled rejection; it is thrown after that.
    const health = check && status.state === 'running' && !this.stopping ? this.checkHealth(handle, check, signal).then(() => undefined, (e: unknown) => ({ error: e })) : undefined;
    const ended = await this.driver(handle).wait(handle, signal).then((code) => ({ code }), (e: unknown) => ({ error: e }));
    this.healthCheck?.abort();
    const failure = await health;
    if (failure) throw failure.error;
    if ('error' in ended) {
      if (signal.aborted) return; // agent shutting down: the task keeps running, we re-adopt it later
      return this.update({ state: 'failed', message: messageOf(ended.error) });
    }
    const { code } = ended;
    if (this.unhealthy) return this.update({ state: 'failed', exitCode: code, message: this.unhealthy });
    if (this.stopping) return this.update({ state: 'shutdown', exitCode: code, ...(this.stopReason ? { message: this.stopReason } : {}) });
    await this.update(code === 0 ? { state: 'complete', exitCode: 0 } : { state: 'failed', exitCode: code, message: `exited with code ${code}` });
  }

  /**
   * Checks the running task's health until it ends, is stopped, or turns unhealthy; then stops it
   * through the usual path (SIGTERM, grace, SIGKILL), and watch() records it failed. Aborted with
   * `signal` (the agent shutting down): a re-adopted task's checks go on from its recorded health.
   */
  private async checkHealth(handle: TaskHandle, check: HealthCheck, signal: AbortSignal): Promise<void> {
    const ctl = new AbortController();
    this.healthCheck = ctl;
    const onAbort = (): void => ctl.abort();
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      if (this.unhealthy) return await this.stopUnhealthy(handle, this.unhealthy);
      const s = this.task.status;
      const verdict = await monitorHealth(
        {
          check,
          probe: probeFor(check, { exec: (command, o) => this.driver(handle).exec(handle, command, o), ip: handle.network?.ip }),
          startedAtMs: s.startedAt ? Date.parse(s.startedAt) : this.deps.now().getTime(),
          initial: { ...STARTING, health: s.health ?? STARTING.health },
          now: () => this.deps.now().getTime(),
          onChange: (h) => this.update({ state: 'running', health: h.health }),
        },
        ctl.signal,
      );
      if (verdict) await this.stopUnhealthy(handle, unhealthyMessage(verdict));
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  }

  /** Records why first (so `berth get tasks` says it during the grace period), then stops the task. */
  private async stopUnhealthy(handle: TaskHandle, message: string): Promise<void> {
    this.unhealthy = message;
    await this.update({ state: 'running', health: 'unhealthy', message });
    try {
      await this.driver(handle).stop(handle, { graceMs: this.task.assignment.spec.stopGracePeriodMs });
    } catch (e) {
      // It may still run, but it is not healthy and never will be: the control plane replaces it.
      await this.update({ state: 'failed', message: `${message}; stopping it failed: ${messageOf(e)}` });
    }
  }

  /** Queues a status change behind the ones before it; resolves once it is saved and reported. */
  private update(change: Omit<LocalStatus, 'updatedAt'>): Promise<void> {
    return this.enqueue(() => this.write(change));
  }

  /** Runs a state-file write after the ones before it; once the task is closed, writes are dropped. */
  private enqueue(write: () => Promise<void>): Promise<void> {
    const done = this.writes.then(() => (this.closed ? undefined : write()));
    this.writes = done.catch(noop);
    return done;
  }

  private async write(change: Omit<LocalStatus, 'updatedAt'>): Promise<void> {
    if (!canTransition(this.task.status.state, change.state)) return; // states only move forward
    const { ip, pid, startedAt, health } = this.task.status;
    const status: LocalStatus = { ...stripUndefined({ ip, pid, startedAt, health }), ...change, updatedAt: this.deps.now().toISOString() };
    this.task = { ...this.task, status };
    await this.deps.states.save(this.task);
    this.deps.report(this.task);
  }
}

export function toTaskConfig(a: Assignment): TaskConfig {
  return {
    taskId: a.taskId,
    service: a.service,
    runtime: a.spec.runtime,
    image: a.spec.image,
    ...(a.spec.imageDigest ? { imageDigest: a.spec.imageDigest } : {}),
    ...(a.spec.imagePull ? { imagePull: a.spec.imagePull } : {}),
    ...(a.spec.command ? { command: a.spec.command } : {}),
    env: a.spec.env,
    resources: a.spec.resources,
    ports: a.spec.ports,
    volumes: a.spec.volumes,
    stopGracePeriodMs: a.spec.stopGracePeriodMs,
    ...(a.spec.vm ? { vm: a.spec.vm } : {}),
    ...(a.spec.securityContext ? { securityContext: a.spec.securityContext } : {}),
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

function noop(): void {}

function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

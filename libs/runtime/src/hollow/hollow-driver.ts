import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { NotFoundError } from '@berth/core';
import {
  EXEC_OUTPUT_LIMIT,
  type ExecOptions,
  type ExecProcess,
  type ExecResult,
  type ExecStreamOptions,
  type LogLine,
  type LogOptions,
  type LogStream,
  type RuntimeDriver,
  type RuntimeStatus,
  type TaskConfig,
  type TaskHandle,
  type TaskStats,
} from '../driver';
import { RuntimeOperationError, TaskSpecError } from '../errors';
import { taskImage } from '../task-image';
import { parseHollowCommand, type HollowProgram } from './hollow-program';
import { KILLED, ProgramRun } from './program-run';

interface HollowTask {
  readonly handle: TaskHandle;
  readonly program: HollowProgram;
  /** The task's command line, as `processesOf` lists it. */
  readonly command: string;
  readonly memoryLimitBytes?: number;
  /** Set once started. */
  run?: ProgramRun;
  pid?: number;
  /** Set once it ended (also when stopped before it ever started). */
  exitCode?: number;
  readonly lines: LogLine[];
  /** Commands exec'd in it that still run, with their command lines. */
  readonly execs: Map<ProgramRun, string>;
  /** Called on the next change (a line, the exit, destroy), then dropped. */
  readonly wakers: Set<() => void>;
}

/**
 * The machine hollow tasks live on: what outlives an agent (as conmon-held containers outlive it
 * on a real node). Driver instances sharing one host play an agent restart.
 */
export class HollowHost {
  readonly tasks = new Map<string, HollowTask>();
  /** Tasks started on this host, ever. */
  starts = 0;
  /** Followed log reads still open (they end with their task or their reader). */
  openFollows = 0;
  private nextPid = 1000;

  allocatePid(): number {
    return this.nextPid++;
  }
}

/**
 * THE HOLLOW DRIVER — the named fake runtime, for tests and scale benchmarks only. Nothing is
 * pulled, mounted, spawned or networked: a task "runs" as an entry in a map (HollowHost) with a
 * made-up pid, so one machine can play a hundred nodes running thousands of tasks (the way
 * Kubernetes' kubemark "hollow nodes" do). It runs the real agent code above the RuntimeDriver
 * port unchanged, and passes the state-machine part of the conformance suite; what it cannot do
 * is isolate anything, so the `berth agent` command must never offer it to operators — nodes
 * announce its name ("hollow") truthfully in their Hello.
 *
 * What a task does comes from its command (`hollow run …`, see hollow-program.ts; any other
 * command runs quietly until stopped); tests can also end one at will with `exit`. Commands
 * exec'd in a running task (health checks) succeed at once unless they are `hollow run …` too;
 * exec streams (`berth exec`) are refused: there is no process to talk to.
 */
export class HollowDriver implements RuntimeDriver {
  readonly name = 'hollow' as const;

  constructor(readonly host: HollowHost = new HollowHost()) {}

  /** For tests: the task's "process" exits with `code` now, as if it had ended by itself. */
  exit(taskId: string, code: number): void {
    const t = this.host.tasks.get(taskId);
    if (t?.run) t.run.kill(code);
  }

  /** For the conformance fixture: command lines of the task with this pid and of what runs in it. */
  processesOf(pid: number): string[] {
    const t = [...this.host.tasks.values()].find((x) => x.pid === pid && x.exitCode === undefined);
    return t ? [t.command, ...t.execs.values()] : [];
  }

  async prepare(task: TaskConfig): Promise<TaskHandle> {
    const existing = this.host.tasks.get(task.taskId);
    if (existing) return existing.handle;
    const parsed = parseHollowCommand(task.command);
    if (!parsed.ok) throw new TaskSpecError(task.taskId, parsed.error);
    const dir = `/nonexistent/hollow/${task.taskId}`;
    const handle: TaskHandle = {
      driver: this.name,
      taskId: task.taskId,
      service: task.service,
      dir,
      logPath: `${dir}/log`,
      image: { ref: taskImage(task), digest: task.imageDigest ?? `sha256:${createHash('sha256').update(taskImage(task)).digest('hex')}` },
      stopGracePeriodMs: task.stopGracePeriodMs,
    };
    this.host.tasks.set(task.taskId, {
      handle,
      program: parsed.program,
      command: (task.command ?? ['(image default)']).join(' '),
      ...(task.resources.memoryBytes !== undefined ? { memoryLimitBytes: task.resources.memoryBytes } : {}),
      lines: [],
      execs: new Map(),
      wakers: new Set(),
    });
    return handle;
  }

  async start(h: TaskHandle): Promise<void> {
    const t = this.task(h, 'start');
    const state = statusOf(t).state;
    if (state !== 'created') throw new RuntimeOperationError(h.taskId, 'start', `the task is ${state}, not created`);
    t.pid = this.host.allocatePid();
    this.host.starts++;
    t.run = new ProgramRun(
      t.program,
      (stream, text) => append(t, stream, text),
      (code) => ended(t, code),
    );
    t.run.start();
  }

  async wait(h: TaskHandle, signal?: AbortSignal): Promise<number> {
    for (;;) {
      const t = this.task(h, 'wait');
      if (t.exitCode !== undefined) return t.exitCode;
      await nextChange(t, signal);
    }
  }

  async stop(h: TaskHandle, o: { readonly graceMs: number }): Promise<void> {
    const t = this.host.tasks.get(h.taskId);
    if (!t || t.exitCode !== undefined) return;
    if (!t.run) return ended(t, KILLED); // never started: it ends without running
    if (t.run.terminate()) return;
    const grace = new AbortController();
    await Promise.race([t.run.done, sleep(o.graceMs, undefined, { signal: grace.signal }).catch(() => undefined)]);
    grace.abort();
    t.run.kill();
  }

  async destroy(h: TaskHandle): Promise<void> {
    const t = this.host.tasks.get(h.taskId);
    if (!t) return;
    t.run?.kill();
    for (const exec of t.execs.keys()) exec.kill();
    this.host.tasks.delete(h.taskId);
    wake(t);
  }

  async inspect(h: TaskHandle): Promise<RuntimeStatus> {
    const t = this.host.tasks.get(h.taskId);
    return t ? statusOf(t) : { state: 'gone' };
  }

  async recover(h: TaskHandle): Promise<'attached' | 'gone'> {
    return this.host.tasks.has(h.taskId) ? 'attached' : 'gone';
  }

  async exec(h: TaskHandle, command: readonly string[], o: ExecOptions): Promise<ExecResult> {
    const t = this.task(h, 'exec');
    if (statusOf(t).state !== 'running') throw new RuntimeOperationError(h.taskId, 'exec', 'the task is not running');
    if (command[0] !== 'hollow') return { exitCode: 0, timedOut: false, output: '' }; // nothing in it could be unhealthy
    const parsed = parseHollowCommand(command);
    if (!parsed.ok) return { exitCode: 127, timedOut: false, output: parsed.error };
    o.signal?.throwIfAborted();
    const out: string[] = [];
    const run = new ProgramRun(parsed.program, (_stream, text) => out.push(text));
    t.execs.set(run, command.join(' '));
    let timedOut = false;
    const deadline = setTimeout(() => {
      timedOut = true;
      run.kill();
    }, o.timeoutMs);
    const onAbort = (): void => run.kill();
    o.signal?.addEventListener('abort', onAbort, { once: true });
    run.start();
    try {
      const exitCode = await run.done;
      o.signal?.throwIfAborted();
      const output = out.join('\n').slice(0, EXEC_OUTPUT_LIMIT).trim();
      return timedOut ? { timedOut: true, output } : { exitCode, timedOut: false, output };
    } finally {
      clearTimeout(deadline);
      o.signal?.removeEventListener('abort', onAbort);
      t.execs.delete(run);
    }
  }

  async execStream(h: TaskHandle, _command: readonly string[], _o: ExecStreamOptions): Promise<ExecProcess> {
    const t = this.task(h, 'exec');
    if (statusOf(t).state !== 'running') throw new RuntimeOperationError(h.taskId, 'exec', 'the task is not running');
    throw new RuntimeOperationError(h.taskId, 'exec', 'exec streams are not supported by the hollow driver (it runs no processes)');
  }

  async *logs(h: TaskHandle, o: LogOptions = {}): AsyncIterable<LogLine> {
    const t = this.host.tasks.get(h.taskId);
    if (!t) return;
    let next = o.tail === undefined ? 0 : Math.max(0, t.lines.length - o.tail);
    const live = () => this.host.tasks.get(h.taskId) === t && t.exitCode === undefined;
    if (!o.follow) {
      yield* t.lines.slice(next);
      return;
    }
    this.host.openFollows++;
    try {
      for (;;) {
        while (next < t.lines.length) yield t.lines[next++]!;
        if (!live() || o.signal?.aborted) return;
        await nextChange(t, o.signal).catch(() => undefined);
      }
    } finally {
      this.host.openFollows--;
    }
  }

  async stats(h: TaskHandle): Promise<TaskStats> {
    const t = this.task(h, 'stats');
    const running = statusOf(t).state === 'running';
    // The named fake uses no CPU or memory and has no network namespace of its own.
    return {
      cpuUsageSeconds: 0,
      cpuThrottledSeconds: 0,
      memoryUsageBytes: 0,
      memoryWorkingSetBytes: 0,
      memoryRssBytes: 0,
      ...(t.memoryLimitBytes !== undefined ? { memoryLimitBytes: t.memoryLimitBytes } : {}),
      pids: running ? 1 + t.execs.size : 0,
      oomKills: 0,
    };
  }

  private task(h: TaskHandle, operation: string): HollowTask {
    const t = this.host.tasks.get(h.taskId);
    if (!t) throw new RuntimeOperationError(h.taskId, operation, new NotFoundError('hollow task', h.taskId).message);
    return t;
  }
}

function statusOf(t: HollowTask): RuntimeStatus {
  if (t.exitCode !== undefined) return { state: 'exited', exitCode: t.exitCode };
  if (t.pid !== undefined) return { state: 'running', pid: t.pid };
  return { state: 'created' };
}

function append(t: HollowTask, stream: LogStream, text: string): void {
  // CRI timestamps carry nanoseconds; a hollow clock has milliseconds.
  t.lines.push({ time: new Date().toISOString().replace(/Z$/, '000000Z'), stream, text });
  wake(t);
}

function ended(t: HollowTask, code: number): void {
  t.exitCode ??= code;
  for (const exec of t.execs.keys()) exec.kill(); // a command run in a task ends with it
  wake(t);
}

function wake(t: HollowTask): void {
  const wakers = [...t.wakers];
  t.wakers.clear();
  for (const w of wakers) w();
}

/** Resolves on the task's next change; rejects with the signal's reason once it aborts. */
function nextChange(t: HollowTask, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason as Error);
    const onAbort = (): void => {
      t.wakers.delete(waker);
      reject(signal?.reason as Error);
    };
    const waker = (): void => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    };
    t.wakers.add(waker);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

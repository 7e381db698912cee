import type { ExecResult, LogLine, LogOptions, RuntimeDriver, RuntimeStatus, TaskConfig, TaskHandle } from '@berth/runtime';
import { NotFoundError } from '@berth/core';
import { StatusOutbox } from '../../../apps/agent/src/session/outbox';
import { AgentSession } from '../../../apps/agent/src/session/session';
import { TaskStateStore } from '../../../apps/agent/src/state/task-state-store';
import { Worker } from '../../../apps/agent/src/worker/worker';

interface Proc {
  status: RuntimeStatus;
  exit: (code: number) => void;
  readonly exited: Promise<number>;
}

/**
 * Test double of the RuntimeDriver port: a "process" is a map entry with a pid. It outlives the
 * agent that started it (like a conmon-held container), so a restarted agent re-adopts it.
 */
export class HollowDriver implements RuntimeDriver {
  readonly name = 'hollow' as const;
  readonly procs = new Map<string, Proc>();
  starts = 0;
  /** Followed log reads that ended because their reader went away. */
  cancelledFollows = 0;
  private nextPid = 1000;

  async prepare(t: TaskConfig): Promise<TaskHandle> {
    if (!this.procs.has(t.taskId)) {
      let exit!: (code: number) => void;
      const exited = new Promise<number>((resolve) => (exit = resolve));
      const proc: Proc = { status: { state: 'created' }, exit, exited };
      void exited.then((code) => (proc.status = { state: 'exited', exitCode: code }));
      this.procs.set(t.taskId, proc);
    }
    return { driver: 'hollow', taskId: t.taskId, service: t.service, dir: '/hollow', logPath: '/hollow/log', image: { ref: t.image, digest: 'sha256:0' }, stopGracePeriodMs: t.stopGracePeriodMs };
  }
  async start(h: TaskHandle): Promise<void> {
    this.starts++;
    this.proc(h).status = { state: 'running', pid: this.nextPid++ };
  }
  wait(h: TaskHandle, signal?: AbortSignal): Promise<number> {
    const p = this.proc(h);
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(new Error('aborted'));
      void p.exited.then(resolve);
      signal?.addEventListener('abort', () => reject(new Error('aborted')), { once: true });
    });
  }
  async stop(h: TaskHandle): Promise<void> {
    this.procs.get(h.taskId)?.exit(143);
  }
  async destroy(h: TaskHandle): Promise<void> {
    this.procs.delete(h.taskId);
  }
  async inspect(h: TaskHandle): Promise<RuntimeStatus> {
    return this.procs.get(h.taskId)?.status ?? { state: 'gone' };
  }
  async recover(h: TaskHandle): Promise<'attached' | 'gone'> {
    return this.procs.has(h.taskId) ? 'attached' : 'gone';
  }
  /** Every check passes in a hollow task: it has nothing that could be unhealthy. */
  async exec(h: TaskHandle): Promise<ExecResult> {
    if (this.proc(h).status.state !== 'running') throw new Error(`task ${h.taskId} is not running`);
    return { exitCode: 0, timedOut: false, output: '' };
  }
  async *logs(h: TaskHandle, o: LogOptions = {}): AsyncIterable<LogLine> {
    yield { time: '2026-01-01T00:00:00.000000000Z', stream: 'stdout', text: `hello from ${h.taskId}` };
    yield { time: '2026-01-01T00:00:01.000000000Z', stream: 'stderr', text: 'second line' };
    const signal = o.signal;
    if (!o.follow || !signal) return;
    await new Promise<void>((resolve) => (signal.aborted ? resolve() : signal.addEventListener('abort', () => resolve(), { once: true })));
    this.cancelledFollows++;
  }
  async stats(): Promise<never> {
    throw new Error('the hollow driver has no cgroups');
  }
  private proc(h: TaskHandle): Proc {
    const p = this.procs.get(h.taskId);
    if (!p) throw new NotFoundError('task', h.taskId);
    return p;
  }
}

export interface HollowAgent {
  stop(): Promise<void>;
}

/** The real agent session client and worker, over the hollow driver. */
export async function startHollowAgent(o: { server: string; name: string; dataDir: string; driver: HollowDriver }): Promise<HollowAgent> {
  const outbox = new StatusOutbox();
  const worker: Worker = new Worker({
    driver: o.driver,
    states: new TaskStateStore(o.dataDir),
    now: () => new Date(),
    log: () => undefined,
    report: (task) => {
      outbox.add(task);
      session.flush();
    },
  });
  const session: AgentSession = new AgentSession({
    server: o.server,
    worker,
    outbox,
    log: () => undefined,
    hello: () => ({
      nodeName: o.name,
      agentVersion: 'test',
      address: '127.0.0.1',
      capacity: { cpuMillis: 4000, memoryBytes: 8 * 1024 ** 3 },
      drivers: ['runc'],
      labels: { zone: 'a' },
      metricsAddress: '',
    }),
    logs: async function* (req, signal) {
      const handle = worker.tasks().find((t) => t.assignment.taskId === req.taskId)?.handle;
      if (!handle) throw new NotFoundError('task', req.taskId);
      yield* o.driver.logs(handle, { follow: req.follow, signal });
    },
  });
  const ctl = new AbortController();
  await worker.recover(ctl.signal);
  const done = Promise.all([worker.run(ctl.signal), session.run(ctl.signal)]);
  return {
    stop: async () => {
      ctl.abort();
      await done;
    },
  };
}

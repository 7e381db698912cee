import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { HealthCheck, HealthCheckTiming, Runtime, TaskState } from '@berth/core';
import {
  HostPortInUseError,
  RuntimeOperationError,
  type ExecOptions,
  type ExecResult,
  type RuntimeDriver,
  type RuntimeStatus,
  type TaskConfig,
  type TaskHandle,
} from '@berth/runtime';
import { TaskStateStore } from '../state/task-state-store';
import { DriverSet } from './drivers';
import type { Assignment, LocalTask } from './model';
import { Worker } from './worker';

/**
 * Unit-test double of the RuntimeDriver port, scripted per test (gated or failing prepares,
 * destroys that fail a number of times, health-check answers): processes are entries in a map.
 * Tests of the agent against a plain fake runtime use the hollow driver (@berth/runtime) instead.
 */
class FakeDriver implements RuntimeDriver {
  constructor(readonly name: RuntimeDriver['name'] = 'hollow') {}
  readonly procs = new Map<string, { status: RuntimeStatus; exit: (code: number) => void; exited: Promise<number> }>();
  starts = 0;
  nextPid = 100;
  /** When set, prepare throws it (as the real driver does when the network or image setup fails). */
  prepareError: Error | undefined;
  /** When set, prepare (a slow image pull, say) finishes only once it resolves. */
  prepareGate: Promise<void> | undefined;
  prepares = 0;
  /** How many destroy calls still fail (a mount that is busy for a while). */
  destroyFailures = 0;
  readonly destroyed: string[] = [];
  /** When set, recover (runc state on a slow node, say) finishes only once it resolves. */
  recoverGate: Promise<void> | undefined;
  /** When set, tasks get this address (as a CNI attachment would give them); else no network. */
  ip: string | undefined;

  async prepare(t: TaskConfig): Promise<TaskHandle> {
    this.prepares++;
    await this.prepareGate;
    if (this.prepareError) throw this.prepareError;
    let exit!: (code: number) => void;
    const exited = new Promise<number>((resolve) => (exit = resolve));
    if (!this.procs.has(t.taskId)) this.procs.set(t.taskId, { status: { state: 'created' }, exit, exited });
    return { driver: this.name, taskId: t.taskId, service: t.service, dir: '/nowhere', logPath: '/nowhere/log', image: { ref: t.image ?? '', digest: 'sha256:0' }, stopGracePeriodMs: t.stopGracePeriodMs, ...(this.ip ? { network: { taskId: t.taskId, netnsPath: '/nowhere/netns', ip: this.ip, ports: [], cniResult: null } } : {}) };
  }
  async start(h: TaskHandle): Promise<void> {
    const p = this.procs.get(h.taskId)!;
    this.starts++;
    p.status = { state: 'running', pid: this.nextPid++ };
    void p.exited.then((code) => (p.status = { state: 'exited', exitCode: code }));
  }
  wait(h: TaskHandle, signal?: AbortSignal): Promise<number> {
    const p = this.procs.get(h.taskId)!;
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(new Error('aborted'));
      void p.exited.then(resolve);
      signal?.addEventListener('abort', () => reject(new Error('aborted')));
    });
  }
  async stop(h: TaskHandle): Promise<void> {
    this.procs.get(h.taskId)?.exit(143);
  }
  async destroy(h: TaskHandle): Promise<void> {
    if (this.destroyFailures-- > 0) throw new RuntimeOperationError(h.taskId, 'destroy', 'umount rootfs: device or resource busy');
    this.procs.delete(h.taskId);
    this.destroyed.push(h.taskId);
  }
  async inspect(h: TaskHandle): Promise<RuntimeStatus> {
    return this.procs.get(h.taskId)?.status ?? { state: 'gone' };
  }
  async recover(h: TaskHandle): Promise<'attached' | 'gone'> {
    await this.recoverGate;
    return this.procs.has(h.taskId) ? 'attached' : 'gone';
  }
  /** What a health check run in a task answers; by default it passes. */
  check: (taskId: string, command: readonly string[], o: ExecOptions) => Promise<ExecResult> = async () => ({ exitCode: 0, timedOut: false, output: '' });
  readonly execs: { taskId: string; command: readonly string[] }[] = [];

  async exec(h: TaskHandle, command: readonly string[], o: ExecOptions): Promise<ExecResult> {
    if (this.procs.get(h.taskId)?.status.state !== 'running') throw new RuntimeOperationError(h.taskId, 'exec', 'the task is not running');
    this.execs.push({ taskId: h.taskId, command });
    return this.check(h.taskId, command, o);
  }
  async execStream(h: TaskHandle): Promise<never> {
    throw new RuntimeOperationError(h.taskId, 'exec', 'not supported by this test double');
  }
  async *logs(): AsyncIterable<never> {
    return;
  }
  async stats(): Promise<never> {
    throw new Error('no stats in the fake');
  }
}

const assignment = (taskId: string, desiredState: 'running' | 'shutdown' = 'running', healthCheck?: HealthCheck): Assignment => ({
  taskId, service: 'web', slot: 1, specGeneration: 1, desiredState,
  spec: { runtime: 'container', image: 'oci:/x:1', env: {}, resources: {}, ports: [], volumes: [], stopGracePeriodMs: 10, ...(healthCheck ? { healthCheck } : {}) },
});
const check = (over: Partial<HealthCheckTiming> & { exec?: readonly string[] } = {}): HealthCheck => ({ exec: ['probe'], intervalMs: 5, timeoutMs: 20, retries: 3, startPeriodMs: 0, ...over });
const failing = (output: string): ExecResult => ({ exitCode: 1, timedOut: false, output });

const dirs: string[] = [];
const controllers: AbortController[] = [];
afterEach(async () => {
  controllers.splice(0).forEach((c) => c.abort());
  dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true }));
});

/** Stands in for the worker's retry timer: records each wait and ends it when the test says so (or the agent stops). */
function manualTimers() {
  const waits: { ms: number; end: () => void }[] = [];
  const sleep = (ms: number, signal: AbortSignal) =>
    new Promise<void>((resolve) => {
      waits.push({ ms, end: resolve });
      signal.addEventListener('abort', () => resolve(), { once: true });
    });
  return { waits, sleep };
}

function startWorker(driver: FakeDriver | ReadonlyMap<Runtime, FakeDriver>, dataDir?: string, sleep?: (ms: number, signal: AbortSignal) => Promise<void>) {
  const dir = dataDir ?? mkdtempSync(join(tmpdir(), 'berth-worker-'));
  if (!dataDir) dirs.push(dir);
  const reports: LocalTask[] = [];
  const states = new TaskStateStore(dir);
  const drivers = new DriverSet(driver instanceof FakeDriver ? new Map([['container', driver]]) : driver);
  const worker = new Worker({ drivers, states, report: (t) => reports.push(t), now: () => new Date(), log: () => undefined, ...(sleep ? { sleep } : {}) });
  const ctl = new AbortController();
  controllers.push(ctl);
  return { worker, reports, states, dir, ctl, running: worker.run(ctl.signal) };
}

const until = async (cond: () => boolean | Promise<boolean>) => {
  for (let i = 0; i < 1000 && !(await cond()); i++) await new Promise((r) => setTimeout(r, 5));
  expect(await cond()).toBe(true);
};
const noStateFiles = async (states: TaskStateStore) => (await states.loadAll()).length === 0;
const statesOf = (reports: LocalTask[], id: string): TaskState[] => reports.filter((r) => r.assignment.taskId === id).map((r) => r.status.state);
/** `state` or `state/health`, per report, with repeats of the same pair left out. */
const stepsOf = (reports: LocalTask[], id: string): string[] =>
  reports
    .filter((r) => r.assignment.taskId === id)
    .map((r) => (r.status.health ? `${r.status.state}/${r.status.health}` : r.status.state))
    .filter((step, i, all) => step !== all[i - 1]);

describe('Worker', () => {
  it('runs an assigned task and reports each step, persisted', async () => {
    const driver = new FakeDriver();
    const { worker, reports, states } = startWorker(driver);
    worker.assign({ full: true, upsert: [assignment('web.1.a')], remove: [] });
    await until(() => statesOf(reports, 'web.1.a').includes('running'));
    expect(statesOf(reports, 'web.1.a')).toEqual(['preparing', 'starting', 'running']);
    expect((await states.loadAll())[0]?.status).toMatchObject({ state: 'running', pid: 100 });
  });

  it('reports a non-zero exit as failed and never restarts it in place', async () => {
    const driver = new FakeDriver();
    const { worker, reports } = startWorker(driver);
    worker.assign({ full: true, upsert: [assignment('web.1.a')], remove: [] });
    await until(() => driver.procs.get('web.1.a')?.status.state === 'running');
    driver.procs.get('web.1.a')!.exit(3);
    await until(() => statesOf(reports, 'web.1.a').includes('failed'));
    expect(reports.at(-1)?.status).toMatchObject({ state: 'failed', exitCode: 3, message: 'exited with code 3' });
    worker.assign({ full: false, upsert: [assignment('web.1.a')], remove: [] });
    await new Promise((r) => setTimeout(r, 30));
    expect(driver.starts).toBe(1);
  });

  it('rejects a task whose host port another process on the node holds, and never starts it', async () => {
    const driver = new FakeDriver();
    driver.prepareError = new HostPortInUseError(18080, 'tcp', 'n1');
    const { worker, reports, states } = startWorker(driver);
    worker.assign({ full: true, upsert: [assignment('web.1.a')], remove: [] });
    await until(() => statesOf(reports, 'web.1.a').includes('rejected'));
    expect(statesOf(reports, 'web.1.a')).toEqual(['preparing', 'rejected']);
    expect(reports.at(-1)?.status).toMatchObject({ state: 'rejected', message: 'host port 18080/tcp is already in use on node n1' });
    expect((await states.loadAll())[0]?.status.state).toBe('rejected');
    expect(driver.starts).toBe(0);
  });

  it('rejects a task of a runtime this node has no driver for, touching no driver', async () => {
    const driver = new FakeDriver();
    const { worker, reports } = startWorker(driver);
    const vm = assignment('vm.1.a');
    worker.assign({ full: true, upsert: [{ ...vm, spec: { ...vm.spec, runtime: 'vm' } }], remove: [] });
    await until(() => statesOf(reports, 'vm.1.a').includes('rejected'));
    expect(reports.map((r) => [r.status.state, r.status.message])).toEqual([['rejected', 'this node has no driver for runtime vm']]);
    expect(driver.prepares).toBe(0);
  });

  it('re-adopts each task with the driver that prepared it, found by the name in its handle', async () => {
    const runc = new FakeDriver('runc');
    const first = startWorker(runc);
    first.worker.assign({ full: true, upsert: [assignment('web.1.a')], remove: [] });
    await until(() => first.worker.tasks()[0]?.status.state === 'running');
    first.ctl.abort();
    await first.running;

    // Restarted with another driver for containers; the runc one still there (for some other runtime).
    const hollow = new FakeDriver('hollow');
    const second = startWorker(new Map([['container', hollow], ['vm', runc]]), first.dir);
    await second.worker.recover(second.ctl.signal);
    second.worker.assign({ full: true, upsert: [assignment('web.1.a'), assignment('web.2.b')], remove: [] });
    await until(() => second.worker.tasks().length === 2 && second.worker.tasks().every((t) => t.status.state === 'running'));
    expect([runc.starts, hollow.starts]).toEqual([1, 1]);
    expect(second.worker.tasks().map((t) => [t.assignment.taskId, t.handle?.driver]).sort()).toEqual([['web.1.a', 'runc'], ['web.2.b', 'hollow']]);
    runc.procs.get('web.1.a')!.exit(0);
    await until(() => statesOf(second.reports, 'web.1.a').includes('complete'));

  });

  it('reports a task failed after a restart when the driver that prepared it is gone', async () => {
    const runc = new FakeDriver('runc');
    const first = startWorker(runc);
    first.worker.assign({ full: true, upsert: [assignment('web.1.a')], remove: [] });
    await until(() => first.worker.tasks()[0]?.status.state === 'running');
    first.ctl.abort();
    await first.running;
    const second = startWorker(new FakeDriver('hollow'), first.dir);
    await second.worker.recover(second.ctl.signal);
    await until(() => statesOf(second.reports, 'web.1.a').includes('failed'));
    expect(second.reports.at(-1)?.status.message).toBe('task web.1.a: this node no longer has the runc driver that prepared it; start the agent with it again');
    expect(runc.procs.get('web.1.a')?.status.state).toBe('running'); // nothing here could touch it
  });

  it('still reports other prepare failures as failed', async () => {
    const driver = new FakeDriver();
    driver.prepareError = new RuntimeOperationError('web.1.a', 'prepare', 'umoci unpack: no space left on device');
    const { worker, reports } = startWorker(driver);
    worker.assign({ full: true, upsert: [assignment('web.1.a')], remove: [] });
    await until(() => statesOf(reports, 'web.1.a').includes('failed'));
    expect(reports.at(-1)?.status).toMatchObject({ state: 'failed', message: 'task web.1.a: prepare failed: umoci unpack: no space left on device' });
  });

  it('stops a task whose desired state becomes shutdown, then destroys it once unassigned', async () => {
    const driver = new FakeDriver();
    const { worker, reports, states } = startWorker(driver);
    worker.assign({ full: true, upsert: [assignment('web.1.a')], remove: [] });
    await until(() => statesOf(reports, 'web.1.a').includes('running'));
    worker.assign({ full: false, upsert: [assignment('web.1.a', 'shutdown')], remove: [] });
    await until(() => statesOf(reports, 'web.1.a').includes('shutdown'));
    expect(driver.procs.has('web.1.a')).toBe(true); // kept as history until unassigned
    worker.assign({ full: false, upsert: [], remove: ['web.1.a'] });
    await until(() => !driver.procs.has('web.1.a'));
    await until(() => worker.tasks().length === 0);
    // The state file goes last, after the runtime let go of the task.
    await until(() => noStateFiles(states));
  });

  it('re-adopts running tasks after a restart instead of starting them again', async () => {
    const driver = new FakeDriver();
    const first = startWorker(driver);
    first.worker.assign({ full: true, upsert: [assignment('web.1.a'), assignment('web.2.b')], remove: [] });
    await until(() => first.worker.tasks().every((t) => t.status.state === 'running') && first.worker.tasks().length === 2);
    const pidsBefore = Object.fromEntries(first.worker.tasks().map((t) => [t.assignment.taskId, t.status.pid]));
    first.ctl.abort(); // the agent stops; its tasks keep running
    await first.running;
    expect([...driver.procs.values()].every((p) => p.status.state === 'running')).toBe(true);

    const second = startWorker(driver, first.dir);
    await second.worker.recover(second.ctl.signal);
    second.worker.assign({ full: true, upsert: [assignment('web.1.a'), assignment('web.2.b')], remove: [] });
    await new Promise((r) => setTimeout(r, 30));
    expect(driver.starts).toBe(2);
    expect(second.worker.tasks().map((t) => [t.assignment.taskId, t.status.state, t.status.pid]).sort()).toEqual([
      ['web.1.a', 'running', pidsBefore['web.1.a']],
      ['web.2.b', 'running', pidsBefore['web.2.b']],
    ]);
    driver.procs.get('web.1.a')!.exit(0);
    await until(() => statesOf(second.reports, 'web.1.a').includes('complete'));
  });

  it('forgets nothing before the first full assignment set arrives', async () => {
    const driver = new FakeDriver();
    const first = startWorker(driver);
    first.worker.assign({ full: true, upsert: [assignment('web.1.a')], remove: [] });
    await until(() => first.worker.tasks()[0]?.status.state === 'running');
    first.ctl.abort();
    await first.running;
    const second = startWorker(driver, first.dir);
    await second.worker.recover(second.ctl.signal);
    second.worker.assign({ full: false, upsert: [assignment('web.9.z')], remove: [] });
    await new Promise((r) => setTimeout(r, 30));
    expect(driver.procs.get('web.1.a')?.status.state).toBe('running');
  });

  it('records a task shut down before it started here as such, persisted, without touching the runtime', async () => {
    const driver = new FakeDriver();
    const { worker, reports, states } = startWorker(driver);
    worker.assign({ full: true, upsert: [assignment('web.1.a', 'shutdown')], remove: [] });
    await until(() => statesOf(reports, 'web.1.a').includes('shutdown'));
    expect(reports.map((r) => [r.assignment.taskId, r.status.state, r.status.message])).toEqual([['web.1.a', 'shutdown', 'stopped before it started']]);
    expect((await states.loadAll())[0]?.status).toMatchObject({ state: 'shutdown', message: 'stopped before it started' });
    worker.assign({ full: true, upsert: [], remove: [] });
    await until(() => worker.tasks().length === 0);
    await until(() => noStateFiles(states));
    expect([driver.prepares, driver.starts, driver.destroyed.length]).toEqual([0, 0, 0]);
  });

  it('destroys what a prepare still in flight made when the task is forgotten, and never starts it', async () => {
    const driver = new FakeDriver();
    let pulled!: () => void;
    driver.prepareGate = new Promise((resolve) => (pulled = resolve));
    const { worker, states } = startWorker(driver);
    worker.assign({ full: true, upsert: [assignment('web.1.a')], remove: [] });
    await until(() => driver.prepares === 1);
    worker.assign({ full: false, upsert: [], remove: ['web.1.a'] });
    await until(() => worker.tasks().length === 0);
    pulled();
    await until(() => driver.destroyed.includes('web.1.a'));
    await until(() => noStateFiles(states));
    await new Promise((r) => setTimeout(r, 30));
    expect(driver.procs.has('web.1.a')).toBe(false);
    expect(driver.starts).toBe(0);
    expect(await states.loadAll()).toEqual([]);
  });

  it('retries a failed cleanup, backing off from 1 s to at most 60 s, and keeps the state file until it succeeds', async () => {
    const driver = new FakeDriver();
    const timers = manualTimers();
    const { worker, states } = startWorker(driver, undefined, timers.sleep);
    worker.assign({ full: true, upsert: [assignment('web.1.a')], remove: [] });
    await until(() => worker.tasks()[0]?.status.state === 'running');
    driver.destroyFailures = 7;
    worker.assign({ full: false, upsert: [], remove: ['web.1.a'] });
    for (let i = 0; i < 7; i++) {
      await until(() => timers.waits.length === i + 1);
      expect((await states.loadAll()).map((t) => [t.assignment.taskId, t.forgotten])).toEqual([['web.1.a', true]]);
      expect(worker.tasks()).toEqual([]);
      timers.waits[i]!.end();
    }
    await until(() => driver.destroyed.includes('web.1.a'));
    await until(() => noStateFiles(states));
    expect(timers.waits.map((w) => w.ms)).toEqual([1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000]);
  });

  it('a restarted agent destroys a task it was still cleaning up instead of re-adopting it', async () => {
    const driver = new FakeDriver();
    const timers = manualTimers();
    const first = startWorker(driver, undefined, timers.sleep);
    first.worker.assign({ full: true, upsert: [assignment('web.1.a')], remove: [] });
    await until(() => first.worker.tasks()[0]?.status.state === 'running');
    driver.destroyFailures = 1;
    first.worker.assign({ full: false, upsert: [], remove: ['web.1.a'] });
    await until(() => timers.waits.length === 1);
    first.ctl.abort(); // the agent stops while waiting to retry
    await first.running;
    expect((await first.states.loadAll())[0]?.forgotten).toBe(true);

    const second = startWorker(driver, first.dir);
    await second.worker.recover(second.ctl.signal);
    expect(second.worker.tasks()).toEqual([]);
    await until(() => driver.destroyed.includes('web.1.a'));
    await until(() => noStateFiles(second.states));
    expect(second.reports).toEqual([]);
    expect(driver.starts).toBe(1);
  });

  it('recover returns once the state files are loaded, while adoption goes on in the background', async () => {
    const driver = new FakeDriver();
    const first = startWorker(driver);
    first.worker.assign({ full: true, upsert: [assignment('web.1.a')], remove: [] });
    await until(() => first.worker.tasks()[0]?.status.state === 'running');
    first.ctl.abort();
    await first.running;

    let recovered!: () => void;
    driver.recoverGate = new Promise((resolve) => (recovered = resolve));
    const second = startWorker(driver, first.dir);
    await second.worker.recover(second.ctl.signal); // hangs here if recover waited for the driver
    expect(second.worker.tasks().map((t) => [t.assignment.taskId, t.status.state])).toEqual([['web.1.a', 'running']]);
    recovered();
    driver.procs.get('web.1.a')!.exit(0);
    await until(() => statesOf(second.reports, 'web.1.a').includes('complete'));
  });
});

describe('Worker health checks', () => {
  it('runs the check inside the running task and reports it healthy once it passes, persisted', async () => {
    const driver = new FakeDriver();
    const { worker, reports, states } = startWorker(driver);
    worker.assign({ full: true, upsert: [assignment('web.1.a', 'running', check({ exec: ['wget', '-q', 'http://127.0.0.1:8080/'] }))], remove: [] });
    await until(() => reports.at(-1)?.status.health === 'healthy');
    expect(stepsOf(reports, 'web.1.a')).toEqual(['preparing', 'starting', 'running/starting', 'running/healthy']);
    expect(driver.execs[0]).toEqual({ taskId: 'web.1.a', command: ['wget', '-q', 'http://127.0.0.1:8080/'] });
    expect((await states.loadAll())[0]?.status).toMatchObject({ state: 'running', health: 'healthy' });
  });

  it('reports no health for a task without a check, and runs nothing in it', async () => {
    const driver = new FakeDriver();
    const { worker, reports } = startWorker(driver);
    worker.assign({ full: true, upsert: [assignment('web.1.a')], remove: [] });
    await until(() => statesOf(reports, 'web.1.a').includes('running'));
    await new Promise((r) => setTimeout(r, 30));
    expect(reports.every((r) => r.status.health === undefined)).toBe(true);
    expect(driver.execs).toEqual([]);
  });

  it('stops a task whose check fails `retries` times in a row and records it failed with the last output', async () => {
    const driver = new FakeDriver();
    driver.check = async () => failing('connection refused\n');
    const { worker, reports, states } = startWorker(driver);
    worker.assign({ full: true, upsert: [assignment('web.1.a', 'running', check({ retries: 3 }))], remove: [] });
    await until(() => statesOf(reports, 'web.1.a').includes('failed'));
    expect(stepsOf(reports, 'web.1.a')).toEqual(['preparing', 'starting', 'running/starting', 'running/unhealthy', 'failed/unhealthy']);
    const message = 'health check failed 3 times in a row: connection refused';
    expect(reports.at(-1)?.status).toMatchObject({ state: 'failed', health: 'unhealthy', exitCode: 143, message });
    expect(driver.procs.get('web.1.a')?.status).toEqual({ state: 'exited', exitCode: 143 });
    expect((await states.loadAll())[0]?.status).toMatchObject({ state: 'failed', message });
    // Never restarted in place: a replacement is a new task from the control plane.
    await new Promise((r) => setTimeout(r, 30));
    expect(driver.starts).toBe(1);
    expect(driver.execs).toHaveLength(3);
  });

  it('runs an http check from the node against the task address: healthy, then failed with the status once it answers 503', async () => {
    let status = 200;
    const server = createServer((_, res) => {
      res.statusCode = status;
      res.end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const { port } = server.address() as AddressInfo;
      const driver = new FakeDriver();
      driver.ip = '127.0.0.1';
      const { worker, reports } = startWorker(driver);
      worker.assign({ full: true, upsert: [assignment('web.1.a', 'running', { http: { port, path: '/healthz' }, intervalMs: 5, timeoutMs: 1000, retries: 2, startPeriodMs: 0 })], remove: [] });
      await until(() => reports.at(-1)?.status.health === 'healthy');
      status = 503;
      await until(() => statesOf(reports, 'web.1.a').includes('failed'));
      expect(reports.at(-1)?.status).toMatchObject({ state: 'failed', health: 'unhealthy', message: `health check failed 2 times in a row: HTTP 503 from http://127.0.0.1:${port}/healthz` });
      expect(driver.execs).toEqual([]);
    } finally {
      await new Promise((r) => server.close(r));
    }
  });

  it('fails a tcp check of a task without a network address, saying so', async () => {
    const driver = new FakeDriver();
    const { worker, reports } = startWorker(driver);
    worker.assign({ full: true, upsert: [assignment('web.1.a', 'running', { tcp: { port: 6379 }, intervalMs: 5, timeoutMs: 20, retries: 1, startPeriodMs: 0 })], remove: [] });
    await until(() => statesOf(reports, 'web.1.a').includes('failed'));
    expect(reports.at(-1)?.status.message).toBe('health check failed 1 time in a row: the task has no network address, so a tcp check cannot reach it');
  });

  it('says the check timed out when it did, and how it exited when it printed nothing', async () => {
    const driver = new FakeDriver();
    driver.check = async (taskId) => (taskId === 'web.1.a' ? { timedOut: true, output: '' } : failing(''));
    const { worker, reports } = startWorker(driver);
    worker.assign({ full: true, upsert: [assignment('web.1.a', 'running', check({ retries: 1 })), assignment('web.2.b', 'running', check({ retries: 2 }))], remove: [] });
    await until(() => statesOf(reports, 'web.1.a').includes('failed') && statesOf(reports, 'web.2.b').includes('failed'));
    const last = (id: string) => reports.filter((r) => r.assignment.taskId === id).at(-1)?.status.message;
    expect(last('web.1.a')).toBe('health check failed 1 time in a row: timed out after 20ms');
    expect(last('web.2.b')).toBe('health check failed 2 times in a row: exited with code 1');
  });

  it('does not count failures during the start period; a pass then makes the task healthy', async () => {
    const driver = new FakeDriver();
    let runs = 0;
    driver.check = async () => (++runs <= 5 ? failing('not yet') : { exitCode: 0, timedOut: false, output: '' });
    const { worker, reports } = startWorker(driver);
    worker.assign({ full: true, upsert: [assignment('web.1.a', 'running', check({ retries: 1, startPeriodMs: 60_000 }))], remove: [] });
    await until(() => reports.at(-1)?.status.health === 'healthy');
    expect(stepsOf(reports, 'web.1.a')).toEqual(['preparing', 'starting', 'running/starting', 'running/healthy']);
  });

  it('a healthy task that starts failing turns unhealthy and is stopped', async () => {
    const driver = new FakeDriver();
    let broken = false;
    driver.check = async () => (broken ? failing('boom') : { exitCode: 0, timedOut: false, output: '' });
    const { worker, reports } = startWorker(driver);
    worker.assign({ full: true, upsert: [assignment('web.1.a', 'running', check({ retries: 2, startPeriodMs: 60_000 }))], remove: [] });
    await until(() => reports.at(-1)?.status.health === 'healthy');
    broken = true; // the start period no longer matters once the task was healthy
    await until(() => statesOf(reports, 'web.1.a').includes('failed'));
    expect(stepsOf(reports, 'web.1.a').slice(-3)).toEqual(['running/healthy', 'running/unhealthy', 'failed/unhealthy']);
    expect(reports.at(-1)?.status.message).toBe('health check failed 2 times in a row: boom');
  });

  it('stops checking a task that is asked to stop, and records it shut down', async () => {
    const driver = new FakeDriver();
    const { worker, reports } = startWorker(driver);
    worker.assign({ full: true, upsert: [assignment('web.1.a', 'running', check())], remove: [] });
    await until(() => reports.at(-1)?.status.health === 'healthy');
    worker.assign({ full: false, upsert: [assignment('web.1.a', 'shutdown', check())], remove: [] });
    await until(() => statesOf(reports, 'web.1.a').includes('shutdown'));
    const runs = driver.execs.length;
    await new Promise((r) => setTimeout(r, 30));
    expect(driver.execs.length).toBe(runs);
    expect(reports.at(-1)?.status).toMatchObject({ state: 'shutdown', health: 'healthy' });
  });

  it('finishes stopping a task found unhealthy after a restart, whether it still runs or not', async () => {
    const driver = new FakeDriver();
    const dir = mkdtempSync(join(tmpdir(), 'berth-worker-'));
    dirs.push(dir);
    const message = 'health check failed 3 times in a row: boom';
    for (const id of ['web.1.a', 'web.2.b']) {
      const handle = await driver.prepare({ taskId: id, service: 'web', runtime: 'container', image: 'oci:/x:1', env: {}, resources: {}, ports: [], volumes: [], stopGracePeriodMs: 10 });
      await driver.start(handle);
      const status = { state: 'running' as const, pid: 1, health: 'unhealthy' as const, message, updatedAt: new Date().toISOString() };
      await new TaskStateStore(dir).save({ assignment: assignment(id, 'running', check()), handle, status });
    }
    driver.procs.get('web.2.b')!.exit(137); // it ended while the agent was away
    const { worker, reports, ctl } = startWorker(driver, dir);
    await worker.recover(ctl.signal);
    await until(() => ['web.1.a', 'web.2.b'].every((id) => statesOf(reports, id).includes('failed')));
    for (const id of ['web.1.a', 'web.2.b']) expect(reports.filter((r) => r.assignment.taskId === id).at(-1)?.status).toMatchObject({ state: 'failed', health: 'unhealthy', message });
    expect(driver.procs.get('web.1.a')?.status.state).toBe('exited');
    expect(driver.execs).toEqual([]);
  });

  it('a re-adopted task keeps its health and its checks go on', async () => {
    const driver = new FakeDriver();
    const first = startWorker(driver);
    first.worker.assign({ full: true, upsert: [assignment('web.1.a', 'running', check({ retries: 2 }))], remove: [] });
    await until(() => first.reports.at(-1)?.status.health === 'healthy');
    first.ctl.abort();
    await first.running;

    driver.check = async () => failing('gone bad');
    const second = startWorker(driver, first.dir);
    await second.worker.recover(second.ctl.signal);
    await until(() => statesOf(second.reports, 'web.1.a').includes('failed'));
    expect(stepsOf(second.reports, 'web.1.a')).toEqual(['running/unhealthy', 'failed/unhealthy']);
    expect(driver.starts).toBe(1);
  });
});

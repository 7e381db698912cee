import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { TaskState } from '@berth/core';
import { HostPortInUseError, RuntimeOperationError, type RuntimeDriver, type RuntimeStatus, type TaskConfig, type TaskHandle } from '@berth/runtime';
import { TaskStateStore } from '../state/task-state-store';
import type { Assignment, LocalTask } from './model';
import { Worker } from './worker';

/** Unit-test double of the RuntimeDriver port: processes are entries in a map. */
class FakeDriver implements RuntimeDriver {
  readonly name = 'hollow' as const;
  readonly procs = new Map<string, { status: RuntimeStatus; exit: (code: number) => void; exited: Promise<number> }>();
  starts = 0;
  nextPid = 100;
  /** When set, prepare throws it (as the real driver does when the network or image setup fails). */
  prepareError: Error | undefined;

  async prepare(t: TaskConfig): Promise<TaskHandle> {
    if (this.prepareError) throw this.prepareError;
    let exit!: (code: number) => void;
    const exited = new Promise<number>((resolve) => (exit = resolve));
    if (!this.procs.has(t.taskId)) this.procs.set(t.taskId, { status: { state: 'created' }, exit, exited });
    return { driver: 'hollow', taskId: t.taskId, service: t.service, dir: '/nowhere', logPath: '/nowhere/log', image: { ref: t.image, digest: 'sha256:0' }, stopGracePeriodMs: t.stopGracePeriodMs };
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
    this.procs.delete(h.taskId);
  }
  async inspect(h: TaskHandle): Promise<RuntimeStatus> {
    return this.procs.get(h.taskId)?.status ?? { state: 'gone' };
  }
  async recover(h: TaskHandle): Promise<'attached' | 'gone'> {
    return this.procs.has(h.taskId) ? 'attached' : 'gone';
  }
  async *logs(): AsyncIterable<never> {
    return;
  }
  async stats(): Promise<never> {
    throw new Error('no stats in the fake');
  }
}

const assignment = (taskId: string, desiredState: 'running' | 'shutdown' = 'running'): Assignment => ({
  taskId, service: 'web', slot: 1, specGeneration: 1, desiredState,
  spec: { runtime: 'container', image: 'oci:/x:1', env: {}, resources: {}, ports: [], volumes: [], stopGracePeriodMs: 10 },
});

const dirs: string[] = [];
const controllers: AbortController[] = [];
afterEach(async () => {
  controllers.splice(0).forEach((c) => c.abort());
  dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true }));
});

function startWorker(driver: FakeDriver, dataDir?: string) {
  const dir = dataDir ?? mkdtempSync(join(tmpdir(), 'berth-worker-'));
  if (!dataDir) dirs.push(dir);
  const reports: LocalTask[] = [];
  const states = new TaskStateStore(dir);
  const worker = new Worker({ driver, states, report: (t) => reports.push(t), now: () => new Date(), log: () => undefined });
  const ctl = new AbortController();
  controllers.push(ctl);
  return { worker, reports, states, dir, ctl, running: worker.run(ctl.signal) };
}

const until = async (cond: () => boolean) => {
  for (let i = 0; i < 1000 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
  expect(cond()).toBe(true);
};
const statesOf = (reports: LocalTask[], id: string): TaskState[] => reports.filter((r) => r.assignment.taskId === id).map((r) => r.status.state);

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
    expect(await states.loadAll()).toEqual([]);
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
});

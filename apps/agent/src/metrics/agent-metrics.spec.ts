import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Resources, TaskState } from '@berth/core';
import { HollowDriver, type TaskHandle, type TaskStats } from '@berth/runtime';
import { TaskStateStore } from '../state/task-state-store';
import { DriverSet } from '../worker/drivers';
import type { LocalTask } from '../worker/model';
import { toTaskConfig } from '../worker/task-runner';
import { Worker } from '../worker/worker';
import { AgentMetrics } from './agent-metrics';

/** Stands in for the worker and the drivers: tasks and their stats are whatever the test sets. */
class FakeNode {
  tasks: LocalTask[] = [];
  readonly stats = new Map<string, TaskStats>();
  /** Stats reads per task id. */
  readonly reads = new Map<string, number>();
  connected = false;
  /** The node certificate's notAfter in epoch seconds; undefined: no certificate source. */
  certificateExpiry: number | undefined;

  metrics(): AgentMetrics {
    const expiry = this.certificateExpiry;
    return new AgentMetrics({
      node: 'n1',
      tasks: () => this.tasks,
      stats: async (h: TaskHandle) => {
        this.reads.set(h.taskId, (this.reads.get(h.taskId) ?? 0) + 1);
        const s = this.stats.get(h.taskId);
        if (!s) throw new Error(`task ${h.taskId}: no cgroup`);
        return s;
      },
      capacity: () => ({ cpuMillis: 4000, memoryBytes: 8 * 2 ** 30 }),
      connected: () => this.connected,
      ...(expiry === undefined ? {} : { certificateExpiry: () => this.certificateExpiry ?? 0 }),
    });
  }
}

function task(taskId: string, state: TaskState, o: { slot?: number; resources?: Resources; startedAt?: string; handle?: boolean } = {}): LocalTask {
  const service = taskId.split('.')[0]!;
  const handle: TaskHandle = { driver: 'hollow', taskId, service, dir: '/x', logPath: '/x/log', image: { ref: 'oci:/x:1', digest: 'sha256:0' }, stopGracePeriodMs: 10 };
  return {
    assignment: {
      taskId,
      service,
      slot: o.slot ?? 1,
      specGeneration: 1,
      desiredState: 'running',
      spec: { runtime: 'container', image: 'oci:/x:1', env: {}, resources: o.resources ?? {}, ports: [], volumes: [], stopGracePeriodMs: 10 },
    },
    ...(o.handle === false ? {} : { handle }),
    status: { state, updatedAt: '2025-01-01T00:00:00.000Z', ...(o.startedAt ? { startedAt: o.startedAt } : {}) },
  };
}

const WEB_STATS: TaskStats = {
  cpuUsageSeconds: 12.5,
  cpuThrottledSeconds: 0.25,
  cpuQuotaMicros: 50_000,
  cpuPeriodMicros: 100_000,
  memoryUsageBytes: 3000,
  memoryWorkingSetBytes: 2000,
  memoryRssBytes: 1000,
  memoryLimitBytes: 65536,
  pids: 3,
  oomKills: 1,
  network: { receiveBytes: 100, transmitBytes: 200 },
};
const JOB_STATS: TaskStats = { cpuUsageSeconds: 1, cpuThrottledSeconds: 0, memoryUsageBytes: 30, memoryWorkingSetBytes: 20, memoryRssBytes: 10, pids: 1, oomKills: 0 };

/** The sample lines of the families whose name starts with `prefix`, sorted. */
async function samples(m: AgentMetrics, prefix: string): Promise<string[]> {
  return (await m.registry.metrics())
    .split('\n')
    .filter((l) => l.startsWith(prefix))
    .sort();
}

function twoTasks(): FakeNode {
  const node = new FakeNode();
  node.tasks = [task('web.1.a', 'running', { startedAt: '2025-01-01T00:00:10.000Z' }), task('job.2.b', 'starting', { slot: 2 })];
  node.stats.set('web.1.a', WEB_STATS);
  node.stats.set('job.2.b', JOB_STATS);
  return node;
}

describe('AgentMetrics, per task', () => {
  it("exports cAdvisor's series for each task with a handle, labelled with its node, service, task and slot", async () => {
    const node = twoTasks();
    node.tasks.push(task('new.1.c', 'assigned', { handle: false }));
    const web = 'node="n1",service="web",task="web.1.a",slot="1"';
    const job = 'node="n1",service="job",task="job.2.b",slot="2"';
    expect(await samples(node.metrics(), 'container_')).toEqual(
      [
        `container_cpu_cfs_throttled_seconds_total{${job}} 0`,
        `container_cpu_cfs_throttled_seconds_total{${web}} 0.25`,
        `container_cpu_usage_seconds_total{${job}} 1`,
        `container_cpu_usage_seconds_total{${web}} 12.5`,
        `container_memory_rss{${job}} 10`,
        `container_memory_rss{${web}} 1000`,
        `container_memory_usage_bytes{${job}} 30`,
        `container_memory_usage_bytes{${web}} 3000`,
        `container_memory_working_set_bytes{${job}} 20`,
        `container_memory_working_set_bytes{${web}} 2000`,
        `container_network_receive_bytes_total{${web}} 100`,
        `container_network_transmit_bytes_total{${web}} 200`,
        `container_oom_events_total{${job}} 0`,
        `container_oom_events_total{${web}} 1`,
        `container_processes{${job}} 1`,
        `container_processes{${web}} 3`,
        `container_spec_cpu_quota{${web}} 50000`,
        `container_spec_memory_limit_bytes{${job}} 0`,
        `container_spec_memory_limit_bytes{${web}} 65536`,
        `container_start_time_seconds{${web}} 1735689610`,
      ].sort(),
    );
  });

  it('types the kernel’s cumulative values as counters and the rest as gauges, each with help text', async () => {
    const text = await twoTasks().metrics().registry.metrics();
    const types = Object.fromEntries([...text.matchAll(/^# TYPE (container_\S+) (\S+)$/gm)].map((m) => [m[1], m[2]]));
    expect(types).toEqual({
      container_cpu_usage_seconds_total: 'counter',
      container_cpu_cfs_throttled_seconds_total: 'counter',
      container_network_receive_bytes_total: 'counter',
      container_network_transmit_bytes_total: 'counter',
      container_oom_events_total: 'counter',
      container_memory_working_set_bytes: 'gauge',
      container_memory_rss: 'gauge',
      container_memory_usage_bytes: 'gauge',
      container_spec_memory_limit_bytes: 'gauge',
      container_spec_cpu_quota: 'gauge',
      container_processes: 'gauge',
      container_start_time_seconds: 'gauge',
    });
    for (const [name] of Object.entries(types)) expect(text).toMatch(new RegExp(`^# HELP ${name} \\S`, 'm'));
    expect(text).not.toMatch(/^# TYPE \S+_total (gauge|histogram)$/m); // promtool's lint, prom-client's defaults included
  });

  it('reads each task’s stats once per scrape, however many families it feeds', async () => {
    const node = twoTasks();
    const m = node.metrics();
    await m.registry.metrics();
    expect(Object.fromEntries(node.reads)).toEqual({ 'web.1.a': 1, 'job.2.b': 1 });
    await m.registry.metrics();
    expect(Object.fromEntries(node.reads)).toEqual({ 'web.1.a': 2, 'job.2.b': 2 });
  });

  it('gives overlapping scrapes the same values, never counters added up twice', async () => {
    const node = twoTasks();
    const m = node.metrics();
    const [a, b] = await Promise.all([m.registry.metrics(), m.registry.metrics()]);
    for (const text of [a, b]) expect(text).toContain('container_cpu_usage_seconds_total{node="n1",service="web",task="web.1.a",slot="1"} 12.5\n');
  });

  it('drops the series of a task that left the node at the next scrape', async () => {
    const node = twoTasks();
    const m = node.metrics();
    expect((await samples(m, 'container_')).filter((l) => l.includes('job.2.b'))).toHaveLength(8); // no network, quota or start time
    node.tasks = node.tasks.filter((t) => t.assignment.taskId !== 'job.2.b');
    const after = await samples(m, 'container_');
    expect(after.filter((l) => l.includes('job.2.b'))).toEqual([]);
    expect(after.filter((l) => l.includes('web.1.a'))).toHaveLength(12);
  });

  it('leaves out a task whose stats cannot be read, and still answers the scrape', async () => {
    const node = twoTasks();
    node.stats.delete('job.2.b'); // it just exited: its cgroup is gone
    const lines = await samples(node.metrics(), 'container_');
    expect(lines.filter((l) => l.includes('job.2.b'))).toEqual([]);
    expect(lines.filter((l) => l.includes('web.1.a'))).toHaveLength(12);
  });
});

describe('AgentMetrics, per node', () => {
  it('exports capacity, what unfinished tasks reserve, tasks by state and the session', async () => {
    const node = new FakeNode();
    node.tasks = [
      task('web.1.a', 'running', { resources: { cpuMillis: 500, memoryBytes: 2 ** 20 } }),
      task('web.2.b', 'preparing', { resources: { cpuMillis: 250 } }),
      task('web.3.c', 'failed', { resources: { cpuMillis: 1000, memoryBytes: 2 ** 30 } }),
    ];
    node.connected = true;
    const lines = await samples(node.metrics(), 'berth_');
    expect(lines.filter((l) => l.startsWith('berth_node_') || l.startsWith('berth_agent_session'))).toEqual([
      'berth_agent_session_connected{node="n1"} 1',
      'berth_node_allocated_cpu_cores{node="n1"} 0.75',
      `berth_node_allocated_memory_bytes{node="n1"} ${2 ** 20}`,
      'berth_node_capacity_cpu_cores{node="n1"} 4',
      `berth_node_capacity_memory_bytes{node="n1"} ${8 * 2 ** 30}`,
    ]);
    const states = lines.filter((l) => l.startsWith('berth_agent_tasks{'));
    expect(states).toHaveLength(11); // every state of the task model, zeros included
    expect(states.filter((l) => !l.endsWith(' 0'))).toEqual([
      'berth_agent_tasks{node="n1",state="failed"} 1',
      'berth_agent_tasks{node="n1",state="preparing"} 1',
      'berth_agent_tasks{node="n1",state="running"} 1',
    ]);
  });

  it("exports the node certificate's expiry, the current one at each scrape", async () => {
    const node = new FakeNode();
    node.certificateExpiry = Date.parse('2030-01-01T00:00:00Z') / 1000;
    const metrics = node.metrics();
    expect(await samples(metrics, 'berth_node_certificate_expiry_timestamp_seconds')).toEqual(['berth_node_certificate_expiry_timestamp_seconds{node="n1"} 1893456000']);
    node.certificateExpiry = Date.parse('2030-02-01T00:00:00Z') / 1000; // renewed
    expect(await samples(metrics, 'berth_node_certificate_expiry_timestamp_seconds')).toEqual(['berth_node_certificate_expiry_timestamp_seconds{node="n1"} 1896134400']);
  });

  it('counts image pulls by result and times the successful ones', async () => {
    const m = new FakeNode().metrics();
    expect(await samples(m, 'berth_agent_image_pulls_total')).toEqual([
      'berth_agent_image_pulls_total{node="n1",result="failure"} 0',
      'berth_agent_image_pulls_total{node="n1",result="success"} 0',
    ]);
    await expect(m.timeImagePull(async () => 'image')).resolves.toBe('image');
    await expect(m.timeImagePull(() => Promise.reject(new Error('registry said no')))).rejects.toThrow('registry said no');
    expect(await samples(m, 'berth_agent_image_pull')).toEqual(
      expect.arrayContaining([
        'berth_agent_image_pulls_total{node="n1",result="failure"} 1',
        'berth_agent_image_pulls_total{node="n1",result="success"} 1',
        'berth_agent_image_pull_duration_seconds_count{node="n1"} 1',
      ]),
    );
  });
});

describe('AgentMetrics with the worker', () => {
  const dirs: string[] = [];
  const controllers: AbortController[] = [];
  afterEach(() => {
    controllers.splice(0).forEach((c) => c.abort());
    dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true }));
  });

  function tempDir(): string {
    const dir = mkdtempSync(join(tmpdir(), 'berth-metrics-'));
    dirs.push(dir);
    return dir;
  }

  async function runWorker(driver: HollowDriver, dir: string): Promise<{ worker: Worker; metrics: AgentMetrics }> {
    const drivers = new DriverSet(new Map([['container', driver]]));
    const metrics = new AgentMetrics({
      node: 'n1',
      tasks: (): LocalTask[] => worker.tasks(),
      stats: async (h) => drivers.forHandle(h).stats(h),
      capacity: () => ({ cpuMillis: 1000, memoryBytes: 2 ** 30 }),
      connected: () => true,
    });
    let clock = Date.parse('2025-01-01T00:00:00Z');
    const worker = new Worker({ drivers, states: new TaskStateStore(dir), report: () => undefined, now: () => new Date((clock += 250)), log: () => undefined, metrics });
    const ctl = new AbortController();
    controllers.push(ctl);
    await worker.recover(ctl.signal);
    void worker.run(ctl.signal);
    return { worker, metrics };
  }

  it('times a task from its assignment reaching the worker to running, once', async () => {
    const { worker, metrics } = await runWorker(new HollowDriver(), tempDir());
    worker.assign({ full: true, upsert: [task('web.1.a', 'assigned').assignment], remove: [] });
    await expect.poll(() => worker.tasks()[0]?.status.state).toBe('running');
    expect(await samples(metrics, 'berth_agent_task_start_duration_seconds_count')).toEqual(['berth_agent_task_start_duration_seconds_count{node="n1"} 1']);
    expect(await samples(metrics, 'container_processes')).toEqual(['container_processes{node="n1",service="web",task="web.1.a",slot="1"} 1']);
  });

  it('does not time a task that a restarted agent adopts and sees running', async () => {
    // The previous agent process started the task and died before it recorded `running`.
    const dir = tempDir();
    const driver = new HollowDriver();
    const { assignment } = task('web.1.a', 'assigned');
    const handle = await driver.prepare(toTaskConfig(assignment));
    await driver.start(handle);
    await new TaskStateStore(dir).save({ assignment, handle, status: { state: 'starting', updatedAt: '2025-01-01T00:00:00.000Z' } });
    const { worker, metrics } = await runWorker(driver, dir);
    await expect.poll(() => worker.tasks()[0]?.status.state).toBe('running');
    expect(await samples(metrics, 'berth_agent_task_start_duration_seconds_count')).toEqual(['berth_agent_task_start_duration_seconds_count{node="n1"} 0']);
  });
});

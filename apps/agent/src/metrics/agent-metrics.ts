import { isTerminal, TASK_STATES, type NodeCapacity } from '@berth/core';
import { ImageStore, type Image, type ImageStoreOptions, type PullOptions, type TaskHandle, type TaskStats } from '@berth/runtime';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { LocalTask } from '../worker/model';
import type { RunnerMetrics } from '../worker/task-runner';

/** Where the agent's metrics come from at a scrape; nothing here is called before the first scrape. */
export interface AgentMetricsSources {
  /** This node's name: the `node` label of every berth and container series. */
  readonly node: string;
  /** Every task the agent holds (Worker.tasks()). */
  readonly tasks: () => readonly LocalTask[];
  /** The task's cgroup usage, from the driver that prepared it; rejects when it has none (any more). */
  readonly stats: (h: TaskHandle) => Promise<TaskStats>;
  /** What this node offers the scheduler (fingerprint capacity()). */
  readonly capacity: () => NodeCapacity;
  /** True while the session to the control plane is up (welcomed). */
  readonly connected: () => boolean;
  /** When the node's certificate expires (notAfter), in seconds since the epoch; the current one, so renewals show. */
  readonly certificateExpiry?: () => number;
}

const TASK_LABELS = ['node', 'service', 'task', 'slot'] as const;
type TaskLabels = Record<(typeof TASK_LABELS)[number], string>;

/** One task's usage as read for one scrape. */
interface TaskSample {
  readonly labels: TaskLabels;
  readonly task: LocalTask;
  readonly stats: TaskStats;
}

/** One per-task series family: cAdvisor's name, type and unit, so cAdvisor dashboards work as they are. */
interface TaskFamily {
  readonly name: string;
  readonly type: 'counter' | 'gauge';
  readonly help: string;
  /** The task's value; undefined leaves the task out of this family. */
  readonly value: (s: TaskStats, t: LocalTask) => number | undefined;
}

const TASK_FAMILIES: readonly TaskFamily[] = [
  { name: 'container_cpu_usage_seconds_total', type: 'counter', help: 'CPU time the task consumed, in seconds.', value: (s) => s.cpuUsageSeconds },
  { name: 'container_cpu_cfs_throttled_seconds_total', type: 'counter', help: 'Time the task was held back by its CPU quota, in seconds.', value: (s) => s.cpuThrottledSeconds },
  { name: 'container_network_receive_bytes_total', type: 'counter', help: 'Bytes the task received on its network interface (tasks with a network only).', value: (s) => s.network?.receiveBytes },
  { name: 'container_network_transmit_bytes_total', type: 'counter', help: 'Bytes the task sent on its network interface (tasks with a network only).', value: (s) => s.network?.transmitBytes },
  { name: 'container_oom_events_total', type: 'counter', help: 'Processes of the task killed by the OOM killer.', value: (s) => s.oomKills },
  { name: 'container_memory_working_set_bytes', type: 'gauge', help: 'Memory the task uses minus inactive file cache (what the OOM killer looks at), in bytes.', value: (s) => s.memoryWorkingSetBytes },
  { name: 'container_memory_rss', type: 'gauge', help: 'Anonymous memory of the task (RSS), in bytes.', value: (s) => s.memoryRssBytes },
  { name: 'container_memory_usage_bytes', type: 'gauge', help: 'Memory the task uses, file cache included, in bytes.', value: (s) => s.memoryUsageBytes },
  { name: 'container_spec_memory_limit_bytes', type: 'gauge', help: 'Memory limit of the task in bytes; 0 when unlimited.', value: (s) => s.memoryLimitBytes ?? 0 },
  { name: 'container_spec_cpu_quota', type: 'gauge', help: 'CPU quota of the task in microseconds per CPU period; absent when unlimited.', value: (s) => s.cpuQuotaMicros },
  { name: 'container_processes', type: 'gauge', help: 'Processes in the task.', value: (s) => s.pids },
  { name: 'container_start_time_seconds', type: 'gauge', help: 'When the task began running, in seconds since the epoch.', value: (_, t) => epochSeconds(t.status.startedAt) },
];

/**
 * The node agent's Prometheus metrics, on a registry of its own (several agents run in one
 * process in tests). Per task: usage from its cgroup, under cAdvisor's names; per node:
 * capacity, what its tasks reserve, task states, image pulls, task start latency, the session.
 * Series are read from the sources when scraped, so they always describe the tasks the agent
 * holds at that moment: a task that left the node has no series after the next scrape.
 */
export class AgentMetrics implements RunnerMetrics {
  readonly registry = new Registry();
  private readonly nodeLabel: { readonly node: string };
  private readonly pulls: Counter<'node' | 'result'>;
  private readonly pullDuration: Histogram<'node'>;
  private readonly startDuration: Histogram<'node'>;
  /** The task samples of the scrape under way, shared by every per-task family; see samples(). */
  private sampling: Promise<TaskSample[]> | undefined;

  constructor(private readonly src: AgentMetricsSources) {
    const registers = [this.registry];
    this.nodeLabel = { node: src.node };
    collectDefaultMetrics({ register: this.registry });
    // Gauges named like counters fail `promtool check metrics`; nodejs_active_*{type} hold the same counts.
    for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) this.registry.removeSingleMetric(name);
    for (const f of TASK_FAMILIES) this.addTaskFamily(f);
    this.addNodeGauges();
    this.pulls = new Counter({ name: 'berth_agent_image_pulls_total', help: 'Images made ready for tasks (the node copy reused or pulled), by result.', labelNames: ['node', 'result'], registers });
    for (const result of ['success', 'failure']) this.pulls.inc({ ...this.nodeLabel, result }, 0);
    this.pullDuration = new Histogram({
      name: 'berth_agent_image_pull_duration_seconds',
      help: 'Time to make an image ready for a task (successful pulls only).',
      labelNames: ['node'],
      buckets: [0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600],
      registers,
    });
    this.pullDuration.zero(this.nodeLabel);
    this.startDuration = new Histogram({
      name: 'berth_agent_task_start_duration_seconds',
      help: 'Time from a task assignment reaching the agent to the task running (image pull included).',
      labelNames: ['node'],
      buckets: [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600],
      registers,
    });
    this.startDuration.zero(this.nodeLabel);
  }

  taskStarted(seconds: number): void {
    this.startDuration.observe(this.nodeLabel, Math.max(0, seconds));
  }

  /** Runs one image pull, counting it by result and timing it when it succeeds. */
  async timeImagePull<T>(pull: () => Promise<T>): Promise<T> {
    const started = performance.now();
    try {
      const image = await pull();
      this.pulls.inc({ ...this.nodeLabel, result: 'success' });
      this.pullDuration.observe(this.nodeLabel, (performance.now() - started) / 1000);
      return image;
    } catch (e) {
      this.pulls.inc({ ...this.nodeLabel, result: 'failure' });
      throw e;
    }
  }

  /**
   * The tasks' usage for the scrape under way. registry.metrics() starts every family's collect()
   * in one synchronous pass, so the first family to ask starts the reads and the other eleven get
   * the same promise: each task's stats are read once per scrape. Once it settles, the next
   * scrape reads afresh.
   */
  private samples(): Promise<TaskSample[]> {
    this.sampling ??= this.readSamples().finally(() => (this.sampling = undefined));
    return this.sampling;
  }

  private async readSamples(): Promise<TaskSample[]> {
    const tasks = this.src.tasks().flatMap((task) => (task.handle ? [{ task, handle: task.handle }] : []));
    const read = await Promise.allSettled(tasks.map(async (t) => this.src.stats(t.handle)));
    // A task whose stats cannot be read (it just exited, its cgroup is gone) is left out, not the scrape.
    return tasks.flatMap(({ task }, i) => {
      const r = read[i]!;
      return r.status === 'fulfilled' ? [{ labels: this.taskLabels(task), task, stats: r.value }] : [];
    });
  }

  private taskLabels({ assignment: a }: LocalTask): TaskLabels {
    return { node: this.src.node, service: a.service, task: a.taskId, slot: String(a.slot) };
  }

  /**
   * Every scrape resets the family and fills it from the samples, in one synchronous step after
   * the reads (two overlapping scrapes then never add up their counters). Counters take the
   * kernel's cumulative values as they are: reset, then inc by the value, so they stay counters.
   */
  private addTaskFamily(f: TaskFamily): void {
    const valuesOf = async (): Promise<[TaskLabels, number][]> =>
      (await this.samples()).flatMap((s) => {
        const v = f.value(s.stats, s.task);
        return v !== undefined && Number.isFinite(v) ? [[s.labels, v]] : [];
      });
    const config = { name: f.name, help: f.help, labelNames: TASK_LABELS, registers: [this.registry] };
    if (f.type === 'counter') {
      new Counter({
        ...config,
        async collect() {
          const values = await valuesOf();
          this.reset();
          for (const [labels, v] of values) this.inc(labels, v);
        },
      });
    } else {
      new Gauge({
        ...config,
        async collect() {
          const values = await valuesOf();
          this.reset();
          for (const [labels, v] of values) this.set(labels, v);
        },
      });
    }
  }

  private addNodeGauges(): void {
    const { src, nodeLabel } = this;
    const gauge = (name: string, help: string, value: () => number): void => {
      new Gauge({ name, help, labelNames: ['node'], registers: [this.registry], collect() { this.set(nodeLabel, value()); } });
    };
    gauge('berth_node_capacity_cpu_cores', 'CPU cores this node offers the scheduler.', () => src.capacity().cpuMillis / 1000);
    gauge('berth_node_capacity_memory_bytes', 'Memory this node offers the scheduler, in bytes.', () => src.capacity().memoryBytes);
    gauge('berth_node_allocated_cpu_cores', 'CPU cores the unfinished tasks on this node reserve (their resources).', () => reserved(src.tasks()).cpuMillis / 1000);
    gauge('berth_node_allocated_memory_bytes', 'Memory the unfinished tasks on this node reserve (their resources), in bytes.', () => reserved(src.tasks()).memoryBytes);
    gauge('berth_agent_session_connected', '1 while the agent has a session with the control plane, else 0.', () => (src.connected() ? 1 : 0));
    const expiry = src.certificateExpiry;
    if (expiry) gauge('berth_node_certificate_expiry_timestamp_seconds', "When this node's certificate expires (its notAfter; renewed at 50-80 % of its lifetime), in seconds since the epoch.", expiry);
    new Gauge({
      name: 'berth_agent_tasks',
      help: 'Tasks the agent holds, by state (every state listed, zeros included).',
      labelNames: ['node', 'state'],
      registers: [this.registry],
      collect() {
        const byState = new Map<string, number>();
        for (const t of src.tasks()) byState.set(t.status.state, (byState.get(t.status.state) ?? 0) + 1);
        for (const state of TASK_STATES) this.set({ ...nodeLabel, state }, byState.get(state) ?? 0);
      },
    });
  }
}

/**
 * The node's image store with every pull counted and timed. The runtime driver pulls inside
 * prepare(); wrapping the store the agent hands it observes exactly the pulls, not the rest of prepare.
 */
export class MeteredImageStore extends ImageStore {
  constructor(opts: ImageStoreOptions, private readonly metrics: AgentMetrics) {
    super(opts);
  }

  override pull(ref: string, opts?: PullOptions): Promise<Image> {
    return this.metrics.timeImagePull(() => super.pull(ref, opts));
  }
}

/** What the node's unfinished tasks reserve: the resources of their specs, as the scheduler counts them. */
function reserved(tasks: readonly LocalTask[]): NodeCapacity {
  let cpuMillis = 0;
  let memoryBytes = 0;
  for (const t of tasks) {
    if (isTerminal(t.status.state)) continue;
    cpuMillis += t.assignment.spec.resources.cpuMillis ?? 0;
    memoryBytes += t.assignment.spec.resources.memoryBytes ?? 0;
  }
  return { cpuMillis, memoryBytes };
}

function epochSeconds(iso: string | undefined): number | undefined {
  return iso === undefined ? undefined : Date.parse(iso) / 1000;
}

import { setTimeout as sleep } from 'node:timers/promises';
import { Inject, Injectable, Optional } from '@nestjs/common';
import { formatDuration, type NodeInfo, ValidationError } from '@berth/core';
import type { NodeTopView, TaskTopView, TopErrorView, TopView } from '@berth/api';
import type { StoreReads } from '@berth/store';
import { STORE_READS } from '../tokens';
import { parsePromText, type PromSample, PromTextError } from './prom-text';

/** The time between the two scrapes of a node: its CPU figures are averaged over it. */
export const TOP_SAMPLE_MS = 1000;
/** Each scrape's deadline, body included. */
export const TOP_SCRAPE_TIMEOUT_MS = 2000;
/** cgroup CPU quotas are per period of this many microseconds (the agent's runtimes use the default). */
const CPU_PERIOD_MICROS = 100_000;

/** The agent series `berth top` reads (apps/agent/src/metrics/agent-metrics.ts writes them). */
const TASK_SERIES = {
  cpu: 'container_cpu_usage_seconds_total',
  memory: 'container_memory_working_set_bytes',
  memoryLimit: 'container_spec_memory_limit_bytes',
  cpuQuota: 'container_spec_cpu_quota',
} as const;
const NODE_SERIES = {
  capacityCpu: 'berth_node_capacity_cpu_cores',
  capacityMemory: 'berth_node_capacity_memory_bytes',
  allocatedCpu: 'berth_node_allocated_cpu_cores',
  allocatedMemory: 'berth_node_allocated_memory_bytes',
} as const;
const WANTED = new Set<string>([...Object.values(TASK_SERIES), ...Object.values(NODE_SERIES)]);
const TASK_FIELDS = new Map(Object.entries(TASK_SERIES).map(([field, name]) => [name as string, field as keyof typeof TASK_SERIES]));

/** What a scrape needs of `fetch`; tests hand in their own. */
export type ScrapeFetch = (url: string, init: { signal: AbortSignal; headers: Record<string, string> }) => Promise<{ ok: boolean; status: number; text(): Promise<string> }>;

export interface TopOptions {
  readonly fetch?: ScrapeFetch;
  readonly sampleMs?: number;
  readonly timeoutMs?: number;
}

/** Optional provider of TopOptions; without one, the real fetch and the constants above. */
export const TOP_OPTIONS = Symbol('berth.top.options');

/** `?service=&node=` of `GET /api/v1/top/tasks`; an empty value is no filter. */
export interface TopFilter {
  readonly service?: string;
  readonly node?: string;
}

/** One scrape of a node's agent: the samples `berth top` reads, and when the answer came (ms). */
export interface NodeScrape {
  readonly samples: readonly PromSample[];
  readonly atMs: number;
}

/** A node's two scrapes, or why it could not be read. */
export type NodeReading =
  | { readonly node: NodeInfo; readonly first: NodeScrape; readonly second: NodeScrape }
  | { readonly node: NodeInfo; readonly error: string };

/**
 * `berth top`: CPU and memory of nodes and tasks, from their agents' Prometheus endpoints. Each
 * request scrapes every ready node that exports metrics twice, TOP_SAMPLE_MS apart, in parallel;
 * nothing is kept between requests and nothing is written. An agent that cannot be read is
 * reported in the answer's `errors`, never as a failed request.
 */
@Injectable()
export class TopService {
  private readonly fetch: ScrapeFetch;
  private readonly sampleMs: number;
  private readonly timeoutMs: number;

  constructor(
    @Inject(STORE_READS) private readonly store: StoreReads,
    @Optional() @Inject(TOP_OPTIONS) options: TopOptions = {},
  ) {
    this.fetch = options.fetch ?? fetch;
    this.sampleMs = options.sampleMs ?? TOP_SAMPLE_MS;
    this.timeoutMs = options.timeoutMs ?? TOP_SCRAPE_TIMEOUT_MS;
  }

  async nodes(): Promise<TopView<NodeTopView>> {
    const usage = computeTop(await this.read(await this.store.listNodes()));
    return { items: usage.nodes, sampledOverSeconds: this.sampleMs / 1000, errors: usage.errors };
  }

  async tasks(filter: TopFilter = {}): Promise<TopView<TaskTopView>> {
    const nodes = (await this.store.listNodes()).filter((n) => filter.node === undefined || n.name === filter.node);
    const usage = computeTop(await this.read(nodes));
    const items = usage.tasks.filter((t) => filter.service === undefined || t.service === filter.service);
    return { items, sampledOverSeconds: this.sampleMs / 1000, errors: usage.errors };
  }

  /** Each ready node with a metrics address, read twice; the nodes in parallel. */
  private read(nodes: readonly NodeInfo[]): Promise<NodeReading[]> {
    const targets = nodes.filter((n): n is NodeInfo & { metricsAddress: string } => n.state === 'ready' && !!n.metricsAddress);
    return Promise.all(
      targets.map(async (node): Promise<NodeReading> => {
        try {
          const first = await this.scrape(node.metricsAddress);
          await sleep(this.sampleMs);
          return { node, first, second: await this.scrape(node.metricsAddress) };
        } catch (e) {
          return { node, error: (e as Error).message };
        }
      }),
    );
  }

  /** One GET of the agent's /metrics within the deadline; throws an Error whose message says what failed. */
  private async scrape(address: string): Promise<NodeScrape> {
    const url = `http://${address}/metrics`;
    try {
      const answer = await this.fetch(url, { signal: AbortSignal.timeout(this.timeoutMs), headers: { accept: 'text/plain;version=0.0.4' } });
      if (!answer.ok) throw new Error(`answered HTTP ${answer.status}`);
      const text = await answer.text();
      return { samples: parsePromText(text, WANTED), atMs: performance.now() };
    } catch (e) {
      throw new Error(`${url}: ${scrapeFailure(e, this.timeoutMs)}`);
    }
  }
}

/** Reads the query of `GET /api/v1/top/tasks`; a repeated parameter is a ValidationError. */
export function readTopFilter(raw: { readonly service?: unknown; readonly node?: unknown }): TopFilter {
  const filter: { service?: string; node?: string } = {};
  for (const name of ['service', 'node'] as const) {
    const value = raw[name];
    if (value !== undefined && typeof value !== 'string') throw new ValidationError([{ path: name, message: 'must be given once' }]);
    if (value) filter[name] = value;
  }
  return filter;
}

/**
 * Two scrapes per node → what `berth top` shows (pure). A task's CPU is the growth of its CPU
 * counter between the node's scrapes over the time between them, as a percent of one core: null
 * for a task the first scrape did not have, or whose counter went back (it restarted). A task only
 * the first scrape had is gone and left out. Nodes by name, tasks by service and slot.
 */
export function computeTop(readings: readonly NodeReading[]): { nodes: NodeTopView[]; tasks: TaskTopView[]; errors: TopErrorView[] } {
  const nodes: NodeTopView[] = [];
  const tasks: TaskTopView[] = [];
  const errors: TopErrorView[] = [];
  for (const r of [...readings].sort((a, b) => compare(a.node.name, b.node.name))) {
    if ('error' in r) {
      errors.push({ node: r.node.name, message: r.error });
      continue;
    }
    const usage = nodeUsage(r.node, r.first, r.second);
    nodes.push(usage.node);
    tasks.push(...usage.tasks);
  }
  tasks.sort((a, b) => compare(a.service, b.service) || a.slot - b.slot || compare(a.task, b.task));
  return { nodes, tasks, errors };
}

/** One node's figures from its two scrapes. */
export function nodeUsage(node: NodeInfo, first: NodeScrape, second: NodeScrape): { node: NodeTopView; tasks: TaskTopView[] } {
  const before = taskSeries(first.samples);
  const seconds = (second.atMs - first.atMs) / 1000;
  const tasks = [...taskSeries(second.samples)].map(([id, now]): TaskTopView => {
    const was = before.get(id)?.cpu;
    const quota = now.cpuQuota;
    return {
      task: id,
      service: now.service,
      slot: now.slot,
      node: node.name,
      cpuPercent: was === undefined || now.cpu === undefined || now.cpu < was || seconds <= 0 ? null : round(((now.cpu - was) / seconds) * 100),
      memoryBytes: now.memory ?? 0,
      memoryLimitBytes: now.memoryLimit ? now.memoryLimit : null,
      cpuLimitCores: quota !== undefined && quota > 0 ? quota / CPU_PERIOD_MICROS : null,
    };
  });
  const gauge = (name: string) => second.samples.find((s) => s.name === name)?.value;
  return {
    node: {
      node: node.name,
      cpuPercent: round(tasks.reduce((sum, t) => sum + (t.cpuPercent ?? 0), 0)),
      memoryBytes: tasks.reduce((sum, t) => sum + t.memoryBytes, 0),
      // An agent without the node gauges: the capacity it announced at registration.
      capacity: {
        cpuCores: gauge(NODE_SERIES.capacityCpu) ?? node.capacity.cpuMillis / 1000,
        memoryBytes: gauge(NODE_SERIES.capacityMemory) ?? node.capacity.memoryBytes,
      },
      allocated: { cpuCores: gauge(NODE_SERIES.allocatedCpu) ?? 0, memoryBytes: gauge(NODE_SERIES.allocatedMemory) ?? 0 },
      tasks: tasks.length,
    },
    tasks,
  };
}

interface TaskSeries {
  service: string;
  slot: number;
  cpu?: number;
  memory?: number;
  memoryLimit?: number;
  cpuQuota?: number;
}

/** A scrape's per-task series by task id (series without a `task` label are not tasks'). */
function taskSeries(samples: readonly PromSample[]): Map<string, TaskSeries> {
  const byTask = new Map<string, TaskSeries>();
  for (const s of samples) {
    const field = TASK_FIELDS.get(s.name);
    const id = s.labels.task;
    if (field === undefined || id === undefined || !Number.isFinite(s.value)) continue;
    let entry = byTask.get(id);
    if (!entry) byTask.set(id, (entry = { service: s.labels.service ?? '', slot: Number(s.labels.slot ?? 0) }));
    entry[field] = s.value;
  }
  return byTask;
}

/** Why a scrape failed, in a few words: refused, timed out, a status, a bad line. */
function scrapeFailure(e: unknown, timeoutMs: number): string {
  if (e instanceof Error && e.name === 'TimeoutError') return `no answer within ${formatDuration(timeoutMs)}`;
  if (e instanceof PromTextError) return `not Prometheus text: ${e.message}`;
  const cause = e instanceof Error ? (e.cause as { code?: string; message?: string } | undefined) : undefined;
  return cause?.code ?? cause?.message ?? (e instanceof Error ? e.message : String(e));
}

function round(percent: number): number {
  return Math.round(percent * 100) / 100;
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

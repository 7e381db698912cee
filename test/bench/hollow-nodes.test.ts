import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { Session } from 'node:inspector/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Worker } from 'node:worker_threads';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EtcdTls } from '@berth/store';
import { BERTH_BIN } from '../e2e/support/berth-cli';
import { requireTools } from '../support/prereq';
import { cpuSecondsOf, HollowCluster, rssOf } from './hollow-cluster';

/**
 * Hollow nodes: N agents (the real agent code over the hollow driver, one gRPC session each) on
 * one real control plane and etcd; services totalling N×100 replicas by default applied at once.
 * Measured from what etcd commits (a watch on the task keys): placements committed per second,
 * and the time until every task is recorded running; plus the control plane's and etcd's RSS and
 * CPU. Figures are printed (and added to $BERTH_BENCH_OUT as JSON when set), never asserted; what
 * is asserted is that every task ran and every node got some.
 *
 *   BERTH_BENCH_HOLLOW=NODESxSERVICESxREPLICAS   sizes (default 100x10x1000)
 *   BERTH_BENCH_PROFILE=DIR                      the control plane runs with --cpu-prof into DIR, and
 *                                                the agents' process is profiled into DIR/agents.cpuprofile
 *   BERTH_BENCH_CP_LOG=FILE                      the control plane's output is kept there
 *   BERTH_BENCH_HOLLOW_STATE=disk                the agents' state files go to disk too
 *
 * The agents' state files (one per task, written with fsync on every status) go to tmpfs
 * (/dev/shm) by default: a hundred real nodes have a hundred disks, and 30,000 fsyncs of simulated
 * nodes on etcd's own disk would measure that disk, not berth. etcd and the control plane keep
 * their data on disk (the temp dir).
 */
const ready = requireTools(['etcd']);

const [NODES, SERVICES, REPLICAS] = (process.env.BERTH_BENCH_HOLLOW ?? '100x10x1000').split('x').map(Number) as [number, number, number];
const TOTAL = SERVICES * REPLICAS;
const GIVE_UP_MS = 15 * 60_000;
const IDLE_SAMPLE_MS = 5_000;

function manifest(): string {
  return Array.from({ length: SERVICES }, (_, i) =>
    [
      'apiVersion: berth/v1',
      'kind: Service',
      'metadata:',
      `  name: hollow${i + 1}`,
      'spec:',
      `  replicas: ${REPLICAS}`,
      '  template:',
      // Not pinned (no registry to ask); a hollow task runs whatever it is told until stopped.
      '    image: 127.0.0.1:5000/hollow:1',
      '    imagePull: ifNotPresent',
      '    command: ["sleep", "3600"]',
    ].join('\n'),
  ).join('\n---\n');
}

/**
 * When each task was first seen created, placed (nodeName set) and running, by what etcd
 * committed: watched from a worker thread (task-timeline.worker.mjs), whose event loop the
 * agents in this one do not hold up. Times are epoch ms.
 */
class TaskTimeline {
  readonly created = new Map<string, number>();
  readonly placed = new Map<string, number>();
  readonly running = new Map<string, number>();
  readonly nodes = new Map<string, string>();
  counts = { created: 0, placed: 0, running: 0 };

  private constructor(private readonly worker: Worker) {
    worker.on('message', (m: { kind: string; created: number; placed: number; running: number }) => {
      if (m.kind === 'counts') this.counts = { created: m.created, placed: m.placed, running: m.running };
    });
  }

  static async start(endpoints: readonly string[], tls: EtcdTls, prefix: string): Promise<TaskTimeline> {
    const worker = new Worker(join(__dirname, 'task-timeline.worker.mjs'), { workerData: { endpoints: [...endpoints], tls: { ...tls }, prefix } });
    await new Promise<void>((resolve, reject) => {
      worker.once('error', reject);
      worker.on('message', (m: { kind: string }) => m.kind === 'watching' && resolve());
    });
    return new TaskTimeline(worker);
  }

  private finished: Promise<void> | undefined;

  /** Stops watching and fills in the maps (once, however often called). */
  finish(): Promise<void> {
    return (this.finished ??= this.collect());
  }

  private async collect(): Promise<void> {
    const report = new Promise<[string, number, number | undefined, number | undefined, string | undefined][]>((resolve) =>
      this.worker.on('message', (m: { kind: string; tasks: [string, number, number | undefined, number | undefined, string | undefined][] }) => m.kind === 'timeline' && resolve(m.tasks)),
    );
    this.worker.postMessage({ kind: 'report' });
    for (const [id, created, placed, running, node] of await report) {
      this.created.set(id, created);
      if (placed !== undefined) this.placed.set(id, placed);
      if (running !== undefined) this.running.set(id, running);
      if (node !== undefined) this.nodes.set(id, node);
    }
    await this.worker.terminate();
  }
}

/** Epoch ms, comparable with the worker's. */
const clock = (): number => performance.timeOrigin + performance.now();

interface Figure {
  readonly what: string;
  readonly value: number;
  readonly unit: string;
}

const first = (m: ReadonlyMap<string, number>): number => Math.min(...m.values());
const last = (m: ReadonlyMap<string, number>): number => Math.max(...m.values());

/** The most placements committed within any one second. */
function peakPerSecond(times: readonly number[]): number {
  const sorted = [...times].sort((a, b) => a - b);
  let best = 0;
  for (let i = 0, j = 0; j < sorted.length; j++) {
    while (sorted[j]! - sorted[i]! > 1000) i++;
    best = Math.max(best, j - i + 1);
  }
  return best;
}

/** Profiles this process (the agents) until `stop`, which returns the profile. */
async function startProfiler(): Promise<{ stop(): Promise<unknown> }> {
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.start');
  return {
    stop: async () => {
      const { profile } = await session.post('Profiler.stop');
      session.disconnect();
      return profile;
    },
  };
}

/** A series' value in Prometheus text (`name value` or `name{…} value`); NaN when absent. */
function sample(text: string, series: string): number {
  const escaped = series.replace(/[{}"=]/g, (c) => `\\${c}`);
  return Number(new RegExp(`^${escaped} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
}

/** `name{loop="x"} value` sums and counts of a histogram in Prometheus text. */
function histogram(text: string, name: string, loop: string): { seconds: number; count: number } {
  const pick = (suffix: string) => Number(new RegExp(`^${name}_${suffix}\\{loop="${loop}"\\} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
  return { seconds: pick('sum'), count: pick('count') };
}

describe.runIf(ready)(`hollow nodes benchmark: ${NODES} agents, ${TOTAL} tasks`, () => {
  let root = '';
  let agentsDir = '';
  let cluster: HollowCluster | undefined;
  const figures: Figure[] = [];

  beforeAll(async () => {
    if (!existsSync(BERTH_BIN)) throw new Error(`${BERTH_BIN} is missing: build first (npx tsc -b tsconfig.build.json)`);
    root = await mkdtemp(join(tmpdir(), 'berth-bench-hollow-'));
    const onTmpfs = process.env.BERTH_BENCH_HOLLOW_STATE !== 'disk' && existsSync('/dev/shm');
    agentsDir = onTmpfs ? await mkdtemp('/dev/shm/berth-bench-hollow-agents-') : join(root, 'agents');
    const profileDir = process.env.BERTH_BENCH_PROFILE;
    cluster = await HollowCluster.start({ root, nodes: NODES, agentsDir, ...(profileDir ? { nodeFlags: ['--cpu-prof', '--cpu-prof-dir', profileDir] } : {}) });
  });

  afterAll(async () => {
    await cluster?.stop();
    if (cluster && process.env.BERTH_BENCH_CP_LOG) await writeFile(process.env.BERTH_BENCH_CP_LOG, cluster.output());
    for (const dir of [agentsDir, root]) if (dir) await rm(dir, { recursive: true, force: true });
    const lines = figures.map((f) => `${f.what.padEnd(58)} ${f.value.toFixed(f.unit === 's' ? 2 : 0).padStart(10)} ${f.unit}`);
    const where = agentsDir.startsWith('/dev/shm') ? 'agent state on tmpfs' : 'agent state on disk';
    console.log(`\nberth hollow-nodes benchmark (${new Date().toISOString()}): ${NODES} agents, ${SERVICES} services × ${REPLICAS} replicas, ${where}\n${lines.join('\n')}\n`);
    if (process.env.BERTH_BENCH_OUT && figures.length > 0) await writeFile(`${process.env.BERTH_BENCH_OUT}.hollow.json`, JSON.stringify(figures, null, 2));
  });

  it(`apply ${SERVICES} services × ${REPLICAS} replicas → all running on ${NODES} hollow nodes`, async () => {
    const c = cluster!;
    const timeline = await TaskTimeline.start(c.etcd.endpoints, c.etcd.clientTls, c.keys.tasks);
    // The cost of merely keeping the nodes connected (heartbeats, lease renewals), before any task.
    const idle0 = { cp: await cpuSecondsOf(c.cpPid), etcd: await cpuSecondsOf(c.etcd.pid), at: performance.now() };
    await sleep(IDLE_SAMPLE_MS);
    const idleSeconds = (performance.now() - idle0.at) / 1000;
    figures.push(
      { what: `idle, ${NODES} nodes connected: control plane CPU`, value: (100 * ((await cpuSecondsOf(c.cpPid))! - idle0.cp!)) / idleSeconds, unit: '%' },
      { what: `idle, ${NODES} nodes connected: etcd CPU`, value: (100 * ((await cpuSecondsOf(c.etcd.pid))! - idle0.etcd!)) / idleSeconds, unit: '%' },
    );
    const cpu0 = { cp: await cpuSecondsOf(c.cpPid), etcd: await cpuSecondsOf(c.etcd.pid), agents: process.cpuUsage() };
    const etcd0 = await c.etcdMetrics();
    const profiler = process.env.BERTH_BENCH_PROFILE ? await startProfiler() : undefined;
    try {
      const applyAt = clock();
      await c.api('/api/v1/apply', { method: 'POST', headers: { 'content-type': 'application/yaml' }, body: manifest() });
      const answeredAt = clock();
      while (timeline.counts.running < TOTAL) {
        if (clock() - applyAt > GIVE_UP_MS) {
          const { created, placed, running } = timeline.counts;
          throw new Error(`after ${GIVE_UP_MS / 60_000} min: ${created} created, ${placed} placed, ${running} running of ${TOTAL}\n${c.output().slice(-4000)}`);
        }
        await sleep(50);
      }
      await timeline.finish();
      const since = (t: number) => (t - applyAt) / 1000;
      const agentsCpu = process.cpuUsage(cpu0.agents);
      const [cpCpu, etcdCpu] = [await cpuSecondsOf(c.cpPid), await cpuSecondsOf(c.etcd.pid)];
      const [cpRss, etcdRss] = [await rssOf(c.cpPid), await rssOf(c.etcd.pid)];
      const metrics = await c.metrics();
      const placing = (last(timeline.placed) - first(timeline.placed)) / 1000;

      figures.push(
        { what: 'apply answered', value: since(answeredAt), unit: 's' },
        { what: `all ${TOTAL} tasks created (orchestrator)`, value: since(last(timeline.created)), unit: 's' },
        { what: 'first placement committed', value: since(first(timeline.placed)), unit: 's' },
        { what: 'last placement committed', value: since(last(timeline.placed)), unit: 's' },
        { what: 'placements/s, first → last placement', value: TOTAL / placing, unit: '/s' },
        { what: 'placements/s, apply → last placement', value: TOTAL / since(last(timeline.placed)), unit: '/s' },
        { what: 'placements committed in the busiest second', value: peakPerSecond([...timeline.placed.values()]), unit: '' },
        { what: `apply → all ${TOTAL} recorded running`, value: since(last(timeline.running)), unit: 's' },
        { what: 'control plane RSS at the end (berth server process)', value: (cpRss ?? NaN) / 1024 ** 2, unit: 'MiB' },
        { what: 'etcd RSS at the end', value: (etcdRss ?? NaN) / 1024 ** 2, unit: 'MiB' },
        { what: 'benchmark process RSS (the agents; vitest)', value: process.memoryUsage().rss / 1024 ** 2, unit: 'MiB' },
        { what: 'CPU: control plane, apply → all running', value: (cpCpu ?? NaN) - (cpu0.cp ?? NaN), unit: 's' },
        { what: 'CPU: etcd', value: (etcdCpu ?? NaN) - (cpu0.etcd ?? NaN), unit: 's' },
        { what: `CPU: the ${NODES} agents (benchmark process)`, value: (agentsCpu.user + agentsCpu.system) / 1e6, unit: 's' },
      );
      const etcd1 = await c.etcdMetrics();
      const delta = (series: string) => sample(etcd1, series) - sample(etcd0, series);
      figures.push(
        { what: 'etcd: proposals committed (write txns)', value: delta('etcd_server_proposals_committed_total'), unit: '' },
        { what: 'etcd: WAL fsyncs', value: delta('etcd_disk_wal_fsync_duration_seconds_count'), unit: '' },
        { what: 'etcd: time in WAL fsync', value: delta('etcd_disk_wal_fsync_duration_seconds_sum'), unit: 's' },
        { what: 'etcd: time in backend commits', value: delta('etcd_disk_backend_commit_duration_seconds_sum'), unit: 's' },
      );
      for (const [service, method] of [['KV', 'Txn'], ['KV', 'Range'], ['Lease', 'LeaseGrant'], ['Lease', 'LeaseKeepAlive']]) {
        const series = (type: string) => `grpc_server_started_total{grpc_method="${method}",grpc_service="etcdserverpb.${service}",grpc_type="${type}"}`;
        const calls = [series('unary'), series('bidi_stream')].map(delta).filter((n) => !Number.isNaN(n));
        figures.push({ what: `etcd: ${method} calls`, value: calls.reduce((a, b) => a + b, 0), unit: '' });
      }
      for (const loop of ['orchestrator', 'scheduler']) {
        const h = histogram(metrics, 'berth_reconcile_duration_seconds', loop);
        figures.push({ what: `${loop}: passes (reconciles)`, value: h.count, unit: '' }, { what: `${loop}: time in them`, value: h.seconds, unit: 's' });
      }

      expect(timeline.running.size).toBe(TOTAL);
      const perNode = new Map<string, number>();
      for (const node of timeline.nodes.values()) perNode.set(node, (perNode.get(node) ?? 0) + 1);
      expect(perNode.size).toBe(NODES);
      // The services' status (the status loop's) follows the task records; wait for it to agree.
      const runningByApi = async () => (await c.api<{ status: { running: number } }[]>('/api/v1/services')).reduce((n, s) => n + s.status.running, 0);
      for (let i = 0; i < 600 && (await runningByApi()) < TOTAL; i++) await sleep(100);
      figures.push({ what: `apply → the API's service status counts ${TOTAL} running`, value: since(clock()), unit: 's' });
      expect(await runningByApi()).toBe(TOTAL);
    } finally {
      if (profiler) await writeFile(join(process.env.BERTH_BENCH_PROFILE!, 'agents.cpuprofile'), JSON.stringify(await profiler.stop()));
      await timeline.finish().catch(() => undefined);
    }
  });
});

import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BERTH_BIN, eventually } from '../e2e/support/berth-cli';
import type { ServiceSketch } from '../e2e/support/cluster';
import type { HostGuard } from '../e2e/support/host-guard';
import { captureUpHost, closeAndCheckHost, UpCluster } from '../e2e/support/up-cluster';
import { apiFetch, createToken, withToken, type ApiAccess } from '../support/api';
import { requireTools } from '../support/prereq';
import { cpuSecondsOf, HollowCluster } from './hollow-cluster';

/**
 * What a Prometheus scrape costs berth. Two endpoints, each scraped N times one after the other
 * (median and max wall time from request to the last byte, body size), and the CPU the scraped
 * process spends on it, idle work subtracted:
 *
 * - the control plane (`berth server` on embedded etcd, hollow nodes in this process) holding
 *   1,000 running tasks: the leader counts berth_tasks, berth_nodes, berth_node_info and
 *   berth_rollout_state from its cache at each scrape;
 * - the agent of a real `berth up` running 100 busybox tasks under runc: each scrape reads the
 *   cgroup (and network) counters of every task once.
 *
 * The control plane is scraped as Prometheus does: https (the cluster CA) with a bearer token, on a
 * kept-alive connection; the agent's /metrics is plain HTTP on the node.
 *
 * For the agent also: the `berth up` process's CPU over 60 s without scrapes and over 60 s with a
 * scrape every 15 s (in interleaved 15 s slices), the difference being what a 15 s scrape
 * interval costs; its idle load (100 tasks watched) is 10 % of a core or more. Figures are
 * printed (and written to $BERTH_BENCH_OUT.scrape.json when set), never asserted; what is
 * asserted is that every task ran and each scrape answered with the series expected.
 *
 *   BERTH_BENCH_SCRAPE_WINDOW_S=SECONDS   the agent's CPU time with and without scrapes, each (default 60)
 */
const cpReady = requireTools(['etcd']);
const agentReady = requireTools(['etcd', 'runc', 'conmon', 'skopeo', 'umoci', 'busybox', 'docker-registry', 'ip', 'iptables', 'nft'], { root: true });

const SCRAPES = 20;
const CP_NODES = 10;
const CP_SERVICES = 10;
const CP_REPLICAS = 100;
const CP_TASKS = CP_SERVICES * CP_REPLICAS;
const AGENT_TASKS = 100;
const INTERVAL_S = 15;
const WINDOW_S = Number(process.env.BERTH_BENCH_SCRAPE_WINDOW_S ?? 60);
const IDLE_SAMPLE_S = 10;
const SETTLE_MS = 10_000;

interface Figure {
  readonly what: string;
  readonly value: number;
  readonly unit: string;
}

const figures: Figure[] = [];

/** One scrape: wall time from sending the request to the last byte of the body. */
interface Scrape {
  readonly ms: number;
  readonly bytes: number;
  readonly text: string;
}

/** A scrape of `url`: the control plane's over https with `access` (its CA and a token), an agent's (no access) plain. */
async function scrape(url: string, access?: ApiAccess): Promise<Scrape> {
  const started = performance.now();
  const res = access ? await apiFetch(access, url, { timeoutMs: 10_000 }) : await fetch(url, { signal: AbortSignal.timeout(10_000) });
  const body = access ? await (res as Awaited<ReturnType<typeof apiFetch>>).buffer() : Buffer.from(await (res as Response).arrayBuffer());
  const ms = performance.now() - started;
  if (res.status !== 200) throw new Error(`GET ${url}: ${res.status} ${body.toString('utf8').slice(0, 500)}`);
  return { ms, bytes: body.length, text: body.toString('utf8') };
}

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 === 1 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

/** CPU seconds of `pid` per second of wall time over `seconds` of doing nothing to it. */
async function idleRate(pid: number | undefined, seconds: number): Promise<number> {
  const [cpu0, at] = [await cpuSecondsOf(pid), performance.now()];
  await sleep(seconds * 1000);
  return ((await cpuSecondsOf(pid))! - cpu0!) / ((performance.now() - at) / 1000);
}

/** System (kernel) CPU seconds of a process so far: stime in /proc/PID/stat. */
async function systemSecondsOf(pid: number | undefined): Promise<number> {
  const stat = pid === undefined ? '' : await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[12]) / 100; // USER_HZ = 100
}

interface ScrapeRun {
  readonly scrapes: readonly Scrape[];
  /** CPU the scraped process spent beyond its idle rate, per scrape. */
  readonly cpuMsPerScrape: number;
  /** The share of its CPU meanwhile (idle work included) spent in the kernel. */
  readonly systemShare: number;
}

/**
 * `SCRAPES` scrapes of `url` one after the other, and the CPU `pid` spent meanwhile. /proc counts
 * CPU in 10 ms ticks: over 20 scrapes that is 0.5 ms each.
 */
async function timeScrapes(url: string, pid: number | undefined, idle: number, access?: ApiAccess): Promise<ScrapeRun> {
  const [cpu0, sys0, at] = [await cpuSecondsOf(pid), await systemSecondsOf(pid), performance.now()];
  const scrapes: Scrape[] = [];
  for (let i = 0; i < SCRAPES; i++) scrapes.push(await scrape(url, access));
  const wall = (performance.now() - at) / 1000;
  const [cpu, sys] = [(await cpuSecondsOf(pid))! - cpu0!, (await systemSecondsOf(pid)) - sys0];
  return { scrapes, cpuMsPerScrape: (1000 * (cpu - idle * wall)) / SCRAPES, systemShare: sys / cpu };
}

function scrapeFigures(what: string, r: ScrapeRun): Figure[] {
  const ms = r.scrapes.map((s) => s.ms);
  const last = r.scrapes.at(-1)!;
  return [
    { what: `${what}: scrape, median of ${SCRAPES}`, value: median(ms), unit: 'ms' },
    { what: `${what}: scrape, max of ${SCRAPES}`, value: Math.max(...ms), unit: 'ms' },
    { what: `${what}: body`, value: last.bytes / 1024, unit: 'KiB' },
    { what: `${what}: samples in the body`, value: sampleLines(last.text).length, unit: '' },
    { what: `${what}: CPU per scrape (back to back, idle rate subtracted)`, value: r.cpuMsPerScrape, unit: 'ms' },
    { what: `${what}: of the CPU while scraping, system (kernel) time`, value: 100 * r.systemShare, unit: '%' },
  ];
}

const sum = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0);

/** CPU seconds `pid` uses over the next INTERVAL_S, which starts with a scrape of `url` when given. */
async function sliceCpu(pid: number, url?: string): Promise<number> {
  const [cpu0, at] = [await cpuSecondsOf(pid), performance.now()];
  if (url) expect((await scrape(url)).bytes).toBeGreaterThan(0);
  await sleep(Math.max(0, at + INTERVAL_S * 1000 - performance.now()));
  return (await cpuSecondsOf(pid))! - cpu0!;
}

/**
 * WINDOW_S of INTERVAL_S slices without a scrape and WINDOW_S of slices that each start with one
 * (a scrape every INTERVAL_S, as Prometheus would), interleaved idle–scraped–scraped–idle so that
 * a drift in the idle load falls on both alike (two contiguous 60 s windows once differed by more
 * than the four scrapes cost).
 */
async function intervalSlices(pid: number, url: string): Promise<{ idle: number[]; scraped: number[] }> {
  const idle: number[] = [];
  const scraped: number[] = [];
  for (let i = 0; i < Math.round(WINDOW_S / INTERVAL_S); i++) {
    const scrapedFirst = i % 2 === 1;
    if (scrapedFirst) scraped.push(await sliceCpu(pid, url));
    idle.push(await sliceCpu(pid));
    if (!scrapedFirst) scraped.push(await sliceCpu(pid, url));
  }
  return { idle, scraped };
}

const sampleLines = (text: string): string[] => text.split('\n').filter((l) => l !== '' && !l.startsWith('#'));

/** The sample lines of one family (`name{…} value` or `name value`). */
const family = (text: string, name: string): string[] => sampleLines(text).filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `));

/** Distinct values of `label` among a family's samples. */
function labelValues(text: string, name: string, label: string): Set<string> {
  const pattern = new RegExp(`[{,]${label}="([^"]*)"`);
  return new Set(family(text, name).flatMap((l) => pattern.exec(l)?.[1] ?? []));
}

function hollowManifest(): string {
  return Array.from({ length: CP_SERVICES }, (_, i) =>
    [
      'apiVersion: berth/v1',
      'kind: Service',
      'metadata:',
      `  name: scrape${i + 1}`,
      'spec:',
      `  replicas: ${CP_REPLICAS}`,
      '  template:',
      // Not pinned (no registry to ask); a hollow task runs whatever it is told until stopped.
      '    image: 127.0.0.1:5000/hollow:1',
      '    imagePull: ifNotPresent',
      '    command: ["sleep", "3600"]',
    ].join('\n'),
  ).join('\n---\n');
}

afterAll(async () => {
  if (figures.length === 0) return;
  const decimals = (unit: string) => (unit === 'ms' || unit === '%' || unit === 'KiB' || unit === 's' ? 2 : 0);
  const lines = figures.map((f) => `${f.what.padEnd(72)} ${f.value.toFixed(decimals(f.unit)).padStart(10)} ${f.unit}`);
  console.log(`\nberth scrape-cost benchmark (${new Date().toISOString()})\n${lines.join('\n')}\n`);
  if (process.env.BERTH_BENCH_OUT) await writeFile(`${process.env.BERTH_BENCH_OUT}.scrape.json`, JSON.stringify(figures, null, 2));
});

describe.runIf(cpReady)(`scrape cost: control plane with ${CP_TASKS} tasks on ${CP_NODES} hollow nodes`, () => {
  let root = '';
  let cluster: HollowCluster | undefined;

  beforeAll(async () => {
    if (!existsSync(BERTH_BIN)) throw new Error(`${BERTH_BIN} is missing: build first (npx tsc -b tsconfig.build.json)`);
    root = await mkdtemp(join(tmpdir(), 'berth-bench-scrape-cp-'));
    cluster = await HollowCluster.start({ root, nodes: CP_NODES });
  });

  afterAll(async () => {
    await cluster?.stop();
    if (root) await rm(root, { recursive: true, force: true });
  });

  it(`GET /metrics × ${SCRAPES} once all ${CP_TASKS} run`, async () => {
    const c = cluster!;
    await c.api('/api/v1/apply', { method: 'POST', headers: { 'content-type': 'application/yaml' }, body: hollowManifest() });
    const running = async () => (await c.api<{ status: { running: number } }[]>('/api/v1/services')).reduce((n, s) => n + s.status.running, 0);
    await eventually(`${CP_TASKS} tasks running`, async () => ((await running()) === CP_TASKS ? true : undefined), 300_000);
    await sleep(SETTLE_MS);

    const idle = await idleRate(c.cpPid, IDLE_SAMPLE_S);
    // A viewer token, as Prometheus's credentials_file holds (made with the admin's).
    const admin = await c.access();
    const access = withToken(admin, (await createToken(admin, 'viewer', 'scrape-cost')).token);
    // Prometheus keeps its connection: one scrape first, so the TLS handshake is not in the figures.
    await scrape(`${c.apiUrl}/metrics`, access);
    const r = await timeScrapes(`${c.apiUrl}/metrics`, c.cpPid, idle, access);
    figures.push({ what: `control plane, idle with ${CP_NODES} nodes and ${CP_TASKS} tasks: CPU`, value: 100 * idle, unit: '%' }, ...scrapeFigures('control plane', r));

    const text = r.scrapes.at(-1)!.text;
    expect(family(text, 'berth_tasks')).toContain(`berth_tasks{state="running"} ${CP_TASKS}`);
    expect(family(text, 'berth_nodes')).toContain(`berth_nodes{status="ready"} ${CP_NODES}`);
    expect(labelValues(text, 'berth_node_info', 'node').size).toBe(CP_NODES);
    expect(labelValues(text, 'berth_rollout_state', 'service').size).toBe(CP_SERVICES);
  });
});

describe.runIf(agentReady)(`scrape cost: the agent of berth up with ${AGENT_TASKS} runc tasks`, () => {
  let guard: HostGuard | undefined;
  let cluster: UpCluster | undefined;
  let metricsUrl = '';
  const service: Omit<ServiceSketch, 'image'> = { name: 'scrape', replicas: AGENT_TASKS, command: ['sleep', '3600'], stopGracePeriod: '1s' };

  beforeAll(async () => {
    guard = captureUpHost();
    cluster = await UpCluster.start('berth-bench-scrape-');
    // 127.0.0.1:9101, or a free port when that one is taken: the agent says which.
    metricsUrl = (await cluster.up.waitForOutput(/berth: agent metrics on (http:\/\/\S+\/metrics)/))[1]!;
  });

  afterAll(async () => {
    const c = cluster;
    if (c) {
      await c.cli.run(['delete', 'service', service.name]);
      await c.cli.tasksGone(service.name, 240_000).catch(() => undefined); // close() removes what is left
    }
    await closeAndCheckHost(c, guard);
  });

  /** The task ids in the agent's container_memory_working_set_bytes. */
  const tasksScraped = async (): Promise<Set<string>> => labelValues((await scrape(metricsUrl)).text, 'container_memory_working_set_bytes', 'task');

  it(`GET /metrics × ${SCRAPES}, and the CPU of a ${INTERVAL_S} s scrape interval`, async () => {
    const c = cluster!;
    const r0 = await c.cli.apply({ ...service, image: c.image }, ['--wait', '--timeout', '10m']);
    expect(r0.code, r0.stderr).toBe(0);
    const tasks = c.remember(await c.cli.running(service.name));
    expect(tasks).toHaveLength(AGENT_TASKS);
    await eventually(`${AGENT_TASKS} tasks in the agent's metrics`, async () => ((await tasksScraped()).size === AGENT_TASKS ? true : undefined), 60_000);
    await sleep(SETTLE_MS);

    const pid = c.up.pid;
    const slices = await intervalSlices(pid, metricsUrl);
    const idlePerSecond = sum(slices.idle) / (slices.idle.length * INTERVAL_S);
    const r = await timeScrapes(metricsUrl, pid, idlePerSecond);
    const text = r.scrapes.at(-1)!.text;
    expect(labelValues(text, 'container_memory_working_set_bytes', 'task')).toEqual(new Set(tasks.map((t) => t.metadata.name)));
    expect(family(text, 'berth_agent_tasks')).toContainEqual(expect.stringMatching(new RegExp(`^berth_agent_tasks\\{[^}]*state="running"[^}]*\\} ${AGENT_TASKS}$`)));

    const extraPerScrape = (sum(slices.scraped) - sum(slices.idle)) / slices.scraped.length;
    const window = slices.idle.length * INTERVAL_S;
    figures.push(
      { what: `berth up, ${AGENT_TASKS} tasks, no scrapes: CPU over ${window} s`, value: sum(slices.idle), unit: 's' },
      { what: `berth up, ${AGENT_TASKS} tasks, no scrapes: CPU`, value: 100 * idlePerSecond, unit: '%' },
      { what: `berth up, no scrapes: CPU of the least busy ${INTERVAL_S} s slice`, value: Math.min(...slices.idle), unit: 's' },
      { what: `berth up, no scrapes: CPU of the busiest ${INTERVAL_S} s slice`, value: Math.max(...slices.idle), unit: 's' },
      { what: `berth up, a scrape every ${INTERVAL_S} s (${slices.scraped.length}): CPU over ${window} s`, value: sum(slices.scraped), unit: 's' },
      ...scrapeFigures(`agent, ${AGENT_TASKS} tasks`, r),
      { what: `agent: extra CPU per scrape (${window} s with scrapes − ${window} s without)`, value: 1000 * extraPerScrape, unit: 'ms' },
      { what: `agent: a ${INTERVAL_S} s scrape interval, share of one core (same)`, value: (100 * extraPerScrape) / INTERVAL_S, unit: '%' },
      { what: `agent: a ${INTERVAL_S} s scrape interval, share of one core (back-to-back CPU)`, value: r.cpuMsPerScrape / 10 / INTERVAL_S, unit: '%' },
    );
  });
});


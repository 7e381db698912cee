import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { apiFetch, createToken, withToken, type ApiAccess } from '../../support/api';
import { requireTools } from '../../support/prereq';
import { collect, eventually, REPO } from '../support/berth-cli';
import { serviceManifest, type ServiceSketch, type TaskJson } from '../support/cluster';
import { LabCluster } from '../support/lab-cluster';
import { PrometheusServer, shippedConfig, type PromSample } from '../support/prometheus';

/**
 * Monitoring a two-host lab as an operator would: a real Prometheus, configured from
 * deploy/prometheus (its http_sd discovery, relabeling and alerting rules as shipped), scrapes the
 * control plane and both agents; the tests read what it shows, `berth top`, and the raw endpoints.
 * The steps build on each other, in order, on one lab.
 *
 * Reachability: Prometheus runs in the host's own network namespace. The lab bridge there holds
 * `<net>.1/24`, so the host has a connected route to every lab host's address — the same path the
 * agents take the other way to the control plane's gRPC on `.1`. Each agent runs with the default
 * `--metrics 0.0.0.0:9101` inside its own namespace (one port space per namespace, so no clash),
 * and the control plane lists it in /sd at the address the agent announces for its node, which is
 * what Prometheus dials.
 *
 * Access: the control plane's API (/sd, its /metrics) is https only and wants a token. As an
 * operator would, the suite creates a viewer token (with the admin token of the server's
 * admin.yaml) and writes it and the cluster CA to the files the shipped config names (the test's
 * copies); the agents' /metrics are scraped over plain HTTP without a token.
 */
const ready = requireTools(
  ['etcd', 'runc', 'conmon', 'skopeo', 'umoci', 'busybox', 'curl', 'docker-registry', 'ip', 'nsenter', 'iptables', 'iptables-save', 'nft', 'unshare', 'prometheus', 'promtool'],
  { root: true },
);

const MiB = 1024 * 1024;
const LIMIT = 64 * MiB;
const STEP_MS = 240_000;
const WITHIN_MS = 60_000;
const log = (line: string) => console.log(`[metrics] ${line}`);

/** The part of a Grafana dashboard read here: panels (rows nest theirs) and their queries. */
interface DashboardPanels {
  readonly panels?: readonly (DashboardPanels & { readonly title?: string; readonly targets?: readonly { readonly expr?: string }[] })[];
}

/** Every query of every panel, rows' panels included. */
function panelQueries(d: DashboardPanels): { panel: string; expr: string }[] {
  return (d.panels ?? []).flatMap((p) => [
    ...(p.targets ?? []).flatMap((t) => (t.expr ? [{ panel: p.title ?? '?', expr: t.expr }] : [])),
    ...panelQueries(p),
  ]);
}

/** `GET /sd` entries (docs/metrics.md). */
interface SdGroup {
  readonly targets: string[];
  readonly labels: Record<string, string>;
}

/** `berth top tasks -o json` items (libs/api TaskTopView); only the fields read here. */
interface TaskTop {
  readonly task: string;
  readonly service: string;
  readonly node: string;
  readonly cpuPercent: number | null;
  readonly memoryBytes: number;
  readonly memoryLimitBytes: number | null;
  readonly cpuLimitCores: number | null;
}

/** Findings of `promtool check metrics` on an exposition (it lints stdin; findings go to stderr). */
async function promtoolCheckMetrics(text: string): Promise<string[]> {
  const child = spawn('promtool', ['check', 'metrics'], { stdio: ['pipe', 'pipe', 'pipe'] });
  const out = collect(child);
  child.stdin.end(text);
  await once(child, 'close');
  return `${out.stdout()}${out.stderr()}`.split('\n').filter((l) => l.trim() !== '');
}

/** The lines of an exposition that are samples (not HELP/TYPE comments). */
const sampleLines = (text: string): string[] => text.split('\n').filter((l) => l !== '' && !l.startsWith('#'));

describe.runIf(ready)('Prometheus scrapes the control plane and the agents it finds through /sd', () => {
  let cluster: LabCluster | undefined;
  let prom: PrometheusServer | undefined;
  /** What Prometheus uses: the cluster CA and a viewer token. */
  let viewer: ApiAccess | undefined;
  const lab = (): LabCluster => {
    if (!cluster) throw new Error('the lab did not start');
    return cluster;
  };
  const prometheus = (): PrometheusServer => {
    if (!prom) throw new Error('Prometheus did not start');
    return prom;
  };
  const name = (i: number) => lab().nodes[i]!.name;
  const sd = () => lab().api<SdGroup[]>('/sd');
  /** The agent of `node`'s metrics endpoint as /sd lists it. */
  const agentTarget = async (node: string): Promise<string> => {
    const group = (await sd()).find((g) => g.labels['__meta_berth_node'] === node);
    if (!group?.targets[0]) throw new Error(`/sd lists no agent target for ${node}`);
    return group.targets[0];
  };
  /** An agent's /metrics: plain HTTP, no token. */
  const scrape = async (target: string): Promise<string> => {
    const res = await fetch(`http://${target}/metrics`, { signal: AbortSignal.timeout(5000) });
    if (!res.ok) throw new Error(`GET http://${target}/metrics: ${res.status}`);
    return res.text();
  };
  /** The control plane's /metrics as Prometheus reads it: https, the cluster CA, the viewer token. */
  const scrapePlane = async (): Promise<string> => {
    if (!viewer) throw new Error('no viewer token');
    const res = await apiFetch(viewer, '/metrics', { timeoutMs: 5000 });
    if (!res.ok) throw new Error(`GET ${viewer.server}/metrics: ${res.status} ${await res.text()}`);
    return res.text();
  };
  /** The service's one running task (it runs one replica). */
  const onlyRunning = async (service: string): Promise<TaskJson> => {
    const running = await lab().cli.running(service);
    expect(running, `${service}'s running tasks`).toHaveLength(1);
    return running[0]!;
  };

  const sketch = (s: Omit<ServiceSketch, 'image'>): ServiceSketch => ({ image: lab().image, replicas: 1, stopGracePeriod: '1s', ...s });
  // The task fills a file on /dev/shm — a 64 MiB tmpfs of its own (libs/runtime oci-spec.ts). tmpfs
  // pages are shared memory charged to the cgroup of the process that wrote them, and they sit on the
  // anonymous LRU (never inactive_file), so they count in the working set and stay there after dd exits.
  const mem = () => sketch({ name: 'mem', memory: '64Mi', command: ['sh', '-c', 'dd if=/dev/zero of=/dev/shm/fill bs=1M count=40 2>/dev/null && exec sleep 2147483647'] });
  const burn = () => sketch({ name: 'burn', memory: '16Mi', command: ['sh', '-c', 'while :; do :; done'] });

  /** `berth apply --wait` of a sketch, with `cpu` added to its resources (ServiceSketch has memory only). */
  async function applyWithCpu(s: ServiceSketch, cpu: string): Promise<void> {
    const doc = parse(serviceManifest(s)) as { spec: { template: { resources?: Record<string, string> } } };
    doc.spec.template.resources = { ...doc.spec.template.resources, cpu };
    const path = join(lab().workDir, `${s.name}.yaml`);
    await writeFile(path, stringify(doc));
    const r = await lab().cli.run(['apply', '-f', path, '--wait', '--timeout', '60s']);
    expect(r, r.stderr).toMatchObject({ code: 0 });
  }

  beforeAll(async () => {
    cluster = await LabCluster.start({ hosts: 2, nodeDownAfter: '5s', tempPrefix: 'berth-e2e-metrics-', family: 'bmet', net: '10.252.0', subnetOctet: 253 });
    // What deploy/prometheus/README.md has an operator do: a viewer token and the cluster CA in two files.
    const admin = await cluster.access();
    viewer = withToken(admin, (await createToken(admin, 'viewer', 'prometheus')).token);
    const files = join(cluster.root, 'prometheus-files');
    await mkdir(files, { mode: 0o700 });
    const credentialsFile = join(files, 'berth.token');
    const caFile = join(files, 'berth-ca.pem');
    await writeFile(credentialsFile, `${viewer.token!}\n`, { mode: 0o600 });
    await writeFile(caFile, await readFile(cluster.caFile, 'utf8'));
    prom = await PrometheusServer.start(await shippedConfig({ sdUrl: `${cluster.apiUrl}/sd`, interval: '1s', credentialsFile, caFile }), { tempPrefix: 'berth-e2e-prom-' });
  }, STEP_MS);

  afterAll(async () => {
    const failures: unknown[] = [];
    const step = async (fn: () => unknown) => {
      try {
        await fn();
      } catch (e) {
        failures.push(e);
      }
    };
    await step(() => prom?.stop());
    if (cluster) {
      const c = cluster;
      // The agent killed last brings its tasks' stops back, so deleting leaves nothing to orphan.
      await step(() => c.heal());
      for (const s of ['mem', 'burn']) await step(() => c.cli.run(['delete', 'service', s]));
      for (const s of ['mem', 'burn']) await step(() => c.cli.tasksGone(s));
      await step(() => c.destroy());
      await step(async () => expect(await c.leftovers()).toEqual([]));
    }
    if (failures.length > 0) throw failures[0];
  }, STEP_MS);

  it(
    'discovery: every target of /sd — the control plane (https, with the viewer token) and both agents (plain http) — is up in Prometheus, with role and node labels',
    async () => {
      const c = lab();
      const p = prometheus();
      const groups = await sd();
      const apiHost = new URL(c.apiUrl).host;
      expect(c.apiUrl).toMatch(/^https:\/\//);
      expect(groups.filter((g) => g.labels['__meta_berth_role'] === 'control-plane').map((g) => [g.targets, g.labels['__scheme__']])).toEqual([[[apiHost], 'https']]);
      // Each agent listens on 0.0.0.0:9101 in its namespace and is listed at its node's address.
      const agents = groups.filter((g) => g.labels['__meta_berth_role'] === 'agent');
      expect(agents.map((g) => [g.labels['__meta_berth_node'], g.targets])).toEqual(c.nodes.map((n) => [n.name, [`${n.host.address}:9101`]]));

      const want = [
        { instance: apiHost, job: 'berth-control-plane', role: 'control-plane' },
        ...c.nodes.map((n) => ({ instance: `${n.host.address}:9101`, job: 'berth-agents', role: 'agent', node: n.name })),
      ];
      const byInstance = (a: { instance: string }, b: { instance: string }) => a.instance.localeCompare(b.instance);
      let last: unknown;
      const targets = await p
        .until('every /sd target scraped and up', async () => {
          const ts = await p.targets();
          last = ts.map((t) => `${t.scrapeUrl} ${t.health} ${t.lastError}`);
          return ts.length === want.length && ts.every((t) => t.health === 'up') ? ts : undefined;
        })
        .catch((e: Error) => {
          throw new Error(`${e.message}\n--- last targets: ${JSON.stringify(last)}`);
        });
      // The control plane over https (the cluster CA, the viewer token); the agents over plain http, no token.
      expect(targets.map((t) => t.scrapeUrl).sort()).toEqual([`${c.apiUrl}/metrics`, ...c.nodes.map((n) => `http://${n.host.address}:9101/metrics`)].sort());
      expect(targets.map((t) => ({ instance: t.labels['instance'], job: t.labels['job'], role: t.labels['role'], ...(t.labels['node'] ? { node: t.labels['node'] } : {}) })).sort(byInstance)).toEqual(
        [...want].sort(byInstance),
      );

      const up = await p.queryUntil('up', (s) => s.length === want.length);
      const upOf = (s: PromSample) => ({ instance: s.metric['instance'] ?? '', labels: s.metric, value: s.value });
      expect(up.map(upOf).sort(byInstance)).toEqual(want.map((w) => ({ instance: w.instance, labels: { __name__: 'up', ...w }, value: 1 })).sort(byInstance));
    },
    STEP_MS,
  );

  it(
    'a task holding 40 MiB under a 64 MiB limit, and one burning CPU under 200m: replicas, limit, working set and CPU through Prometheus',
    async () => {
      const c = lab();
      const p = prometheus();
      const applied = await c.cli.apply(mem(), ['--wait', '--timeout', '60s']);
      expect(applied, applied.stderr).toMatchObject({ code: 0 });
      await applyWithCpu(burn(), '200m');
      const memTask = await onlyRunning('mem');
      const burnTask = await onlyRunning('burn');
      log(`mem ${memTask.metadata.name} on ${memTask.status.node}; burn ${burnTask.metadata.name} on ${burnTask.status.node}`);

      await p.queryUntil('berth_service_replicas_running{service="mem"}', (s) => s.length === 1 && s[0]!.value === 1, WITHIN_MS);

      const limit = await p.queryUntil('container_spec_memory_limit_bytes{service="mem"}', (s) => s.length === 1);
      expect(limit[0]).toMatchObject({ metric: { service: 'mem', task: memTask.metadata.name, node: memTask.status.node, role: 'agent' }, value: LIMIT });

      // dd takes a moment: wait for the working set to reach the band rather than read it once.
      const inBand = (s: PromSample[]) => s.length === 1 && s[0]!.value >= 35 * MiB && s[0]!.value <= LIMIT;
      const ws = await p.queryUntil('container_memory_working_set_bytes{service="mem"}', inBand, WITHIN_MS).catch(async (e: Error) => {
        throw new Error(`${e.message}\nmem's task: ${JSON.stringify(await c.cli.tasks('mem'))}`);
      });
      log(`mem working set ${(ws[0]!.value / MiB).toFixed(1)} MiB`);

      const cpu = 'container_cpu_usage_seconds_total{service="burn"}';
      const [before] = await p.queryUntil(cpu, (s) => s.length === 1);
      await sleep(5_000);
      const [after] = await p.queryUntil(cpu, (s) => s.length === 1);
      expect(after!.value, 'burn CPU seconds, 5 s later').toBeGreaterThan(before!.value);

      // Over whole 100 ms CFS periods the quota holds burn to 0.2 cores; 0.3 leaves room for the
      // edges of the window. A missing limit would show a whole core (the loop never sleeps). The
      // window is read once the series fills it: one starting inside it would understate the rate.
      await p.queryUntil(`count_over_time(${cpu}[10s])`, (s) => s.length === 1 && s[0]!.value >= 10);
      const [rate] = await p.queryUntil(`rate(${cpu}[10s])`, (s) => s.length === 1);
      log(`burn: ${rate!.value.toFixed(3)} cores over 10 s`);
      expect(rate!.value).toBeGreaterThan(0);
      expect(rate!.value).toBeLessThanOrEqual(0.3);
    },
    STEP_MS,
  );

  it(
    'every query of the shipped Grafana dashboard answers with data from this cluster',
    async () => {
      const p = prometheus();
      const dashboard = JSON.parse(await readFile(join(REPO, 'deploy/prometheus/dashboards/berth.json'), 'utf8')) as DashboardPanels;
      const queries = panelQueries(dashboard);
      expect(queries.length).toBeGreaterThan(0);
      // Grafana's variables as an operator's "All" would set them; rates over 10 s of 1 s scrapes.
      const concrete = (expr: string) => expr.replaceAll('$__rate_interval', '10s').replaceAll('$__interval', '10s').replaceAll('$__range', '5m').replace(/\$\{?(service|node)\}?/g, '.*');
      const empty: string[] = [];
      for (const { panel, expr } of queries) {
        const samples = await p.query(concrete(expr)).catch((e: Error) => {
          throw new Error(`panel "${panel}": ${expr}: ${e.message}`);
        });
        if (samples.length === 0) empty.push(`panel "${panel}": ${expr}`);
      }
      expect(empty, 'panels whose query answered no series').toEqual([]);
    },
    STEP_MS,
  );

  it(
    '`berth top tasks -o json` shows the same working set and limit for mem, and CPU for burn',
    async () => {
      const c = lab();
      const r = await c.cli.run(['top', 'tasks', '-o', 'json']);
      expect(r, r.stderr).toMatchObject({ code: 0 });
      const view = JSON.parse(r.stdout) as { items: TaskTop[]; errors: unknown[] };
      expect(view.errors).toEqual([]);
      const memTop = view.items.filter((t) => t.service === 'mem');
      const burnTop = view.items.filter((t) => t.service === 'burn');
      expect(memTop).toHaveLength(1);
      expect(burnTop).toHaveLength(1);
      expect(memTop[0]).toMatchObject({ task: (await onlyRunning('mem')).metadata.name, memoryLimitBytes: LIMIT });
      expect(memTop[0]!.memoryBytes).toBeGreaterThanOrEqual(35 * MiB);
      expect(memTop[0]!.memoryBytes).toBeLessThanOrEqual(LIMIT);
      expect(burnTop[0]).toMatchObject({ task: (await onlyRunning('burn')).metadata.name, cpuLimitCores: 0.2 });
      expect(burnTop[0]!.cpuPercent).toBeGreaterThan(0);
      log(`top: mem ${(memTop[0]!.memoryBytes / MiB).toFixed(1)} MiB, burn ${burnTop[0]!.cpuPercent}% CPU`);
    },
    STEP_MS,
  );

  it(
    '`promtool check metrics` finds nothing about a berth_ or container_ family on an agent and on the control plane',
    async () => {
      const node = (await onlyRunning('mem')).status.node!;
      const agentText = await scrape(await agentTarget(node));
      const planeText = await scrapePlane();
      // Not vacuous: both expositions hold berth's families (the agent's tasks' ones too).
      expect(agentText).toMatch(/^container_memory_working_set_bytes\{/m);
      expect(agentText).toMatch(/^berth_agent_tasks\{/m);
      expect(planeText).toMatch(/^berth_service_replicas_running\{/m);
      for (const [what, text] of [[`agent of ${node}`, agentText], ['control plane', planeText]] as const) {
        const findings = await promtoolCheckMetrics(text);
        if (findings.length > 0) log(`promtool on the ${what}:\n${findings.join('\n')}`);
        expect(findings.filter((l) => /^(berth|container)_/.test(l) || l.startsWith('error')), what).toEqual([]);
      }
    },
    STEP_MS,
  );

  it(
    "mem scaled to 0: its series leave the agent's /metrics, and Prometheus shows none",
    async () => {
      const c = lab();
      const p = prometheus();
      const task = await onlyRunning('mem');
      const target = await agentTarget(task.status.node!);
      expect(sampleLines(await scrape(target)).filter((l) => l.includes('service="mem"')).length).toBeGreaterThan(0);
      const scaled = await c.cli.run(['scale', 'mem=0']);
      expect(scaled, scaled.stderr).toMatchObject({ code: 0 });
      await eventually(
        `no series of mem on ${target}`,
        async () => (sampleLines(await scrape(target)).some((l) => l.includes('service="mem"')) ? undefined : true),
        WITHIN_MS,
      );
      // A series missing from a scrape is marked stale: the instant query answers nothing for it.
      await p.until('no container_ series of mem in Prometheus', async () => ((await p.query('{__name__=~"container_.+",service="mem"}')).length === 0 ? true : undefined), WITHIN_MS);
      expect(sampleLines(await scrape(await agentTarget(name(0)))).concat(sampleLines(await scrape(await agentTarget(name(1))))).filter((l) => l.includes(task.metadata.name))).toEqual([]);
    },
    STEP_MS,
  );

  it(
    'an agent killed: Prometheus sees it down, BerthAgentDown turns pending for its node, and /sd keeps listing it once it is down',
    async () => {
      const c = lab();
      const p = prometheus();
      const gone = name(1);
      await c.killAgent(1);
      const upOf = (node: string) => `up{job="berth-agents",role="agent",node="${node}"}`;
      await p.queryUntil(upOf(gone), (s) => s.length === 1 && s[0]!.value === 0, WITHIN_MS);

      const alert = await p.until(
        `BerthAgentDown for ${gone}`,
        async () => (await p.alerts()).find((a) => a.labels['alertname'] === 'BerthAgentDown' && a.labels['node'] === gone),
        WITHIN_MS,
      );
      // `for: 1m`: pending now; firing would need a minute more, which this test does not wait for.
      expect(alert).toMatchObject({ state: 'pending', labels: { alertname: 'BerthAgentDown', node: gone, role: 'agent', severity: 'warning' } });
      expect((await p.alerts()).filter((a) => a.labels['alertname'] === 'BerthAgentDown' && a.labels['node'] !== gone)).toEqual([]);

      await eventually(`${gone} down`, async () => ((await c.cli.nodes()).find((n) => n.metadata.name === gone)?.status.state === 'down' ? true : undefined), WITHIN_MS);
      const listed = (await sd()).find((g) => g.labels['__meta_berth_node'] === gone);
      expect(listed).toMatchObject({ targets: [`${c.nodes[1]!.host.address}:9101`], labels: { __meta_berth_role: 'agent', __meta_berth_node_state: 'down' } });
      // Still scraped (down), and the other agent is still up.
      expect((await p.query(upOf(gone))).map((s) => s.value)).toEqual([0]);
      expect((await p.query(upOf(name(0)))).map((s) => s.value)).toEqual([1]);
    },
    STEP_MS,
  );
});

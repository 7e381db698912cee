import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { createCa } from '@berth/pki';
import { requireTools } from '../../support/prereq';

/**
 * berth's Prometheus setup (deploy/prometheus): the config and the alerting rules pass promtool,
 * the alerts' unit tests pass and cover every alert, and the dashboard queries only metrics the
 * exporters serve — renaming a metric on either side breaks this suite.
 */
const exec = promisify(execFile);
const ROOT = resolve(__dirname, '../../..');
const DIR = join(ROOT, 'deploy/prometheus');
const CONFIG = join(DIR, 'prometheus.yml');
const RULES = join(DIR, 'rules/berth-alerts.yml');
const RULE_TESTS = join(DIR, 'rules/berth-alerts.test.yml');
const DASHBOARD = join(DIR, 'dashboards/berth.json');

/** The metric contract (docs/metrics.md): every name the control plane and the agent export. */
const METRICS = {
  // control plane
  berth_leader: 'gauge',
  berth_build_info: 'gauge',
  berth_service_replicas_desired: 'gauge',
  berth_service_replicas_running: 'gauge',
  berth_tasks: 'gauge',
  berth_nodes: 'gauge',
  berth_task_restarts_total: 'counter',
  berth_node_info: 'gauge',
  berth_node_down_total: 'counter',
  berth_failover_duration_seconds: 'histogram',
  berth_rollout_state: 'gauge',
  berth_scheduler_placements_total: 'counter',
  berth_scheduler_pending_tasks: 'gauge',
  berth_reconcile_duration_seconds: 'histogram',
  berth_api_request_duration_seconds: 'histogram',
  berth_agent_sessions: 'gauge',
  // agent, per task
  container_cpu_usage_seconds_total: 'counter',
  container_cpu_cfs_throttled_seconds_total: 'counter',
  container_memory_working_set_bytes: 'gauge',
  container_memory_rss: 'gauge',
  container_memory_usage_bytes: 'gauge',
  container_spec_memory_limit_bytes: 'gauge',
  container_spec_cpu_quota: 'gauge',
  container_processes: 'gauge',
  container_network_receive_bytes_total: 'counter',
  container_network_transmit_bytes_total: 'counter',
  container_oom_events_total: 'counter',
  container_start_time_seconds: 'gauge',
  // agent, per node
  berth_node_capacity_cpu_cores: 'gauge',
  berth_node_capacity_memory_bytes: 'gauge',
  berth_node_allocated_cpu_cores: 'gauge',
  berth_node_allocated_memory_bytes: 'gauge',
  berth_agent_tasks: 'gauge',
  berth_agent_image_pulls_total: 'counter',
  berth_agent_image_pull_duration_seconds: 'histogram',
  berth_agent_task_start_duration_seconds: 'histogram',
  berth_agent_session_connected: 'gauge',
} as const satisfies Record<string, 'counter' | 'gauge' | 'histogram'>;

/** Names a query may use: the contract's, and the _bucket/_sum/_count series of its histograms. */
const SERIES: ReadonlySet<string> = new Set(
  Object.entries(METRICS).flatMap(([name, type]) =>
    type === 'histogram' ? [name, `${name}_bucket`, `${name}_sum`, `${name}_count`] : [name],
  ),
);

/** berth metric names in a query that no exporter serves. */
function unknownMetrics(query: string): string[] {
  return [...query.matchAll(/\b(berth|container)_[a-z_]+/g)].map((m) => m[0]).filter((name) => !SERIES.has(name));
}

async function promtool(...args: string[]): Promise<{ code: number; output: string }> {
  try {
    const { stdout, stderr } = await exec('promtool', args, { cwd: ROOT });
    return { code: 0, output: stdout + stderr };
  } catch (e) {
    const err = e as Error & { code?: number | string; stdout?: string; stderr?: string };
    const output = `${err.stdout ?? ''}${err.stderr ?? ''}`;
    return { code: typeof err.code === 'number' ? err.code : -1, output: output || err.message };
  }
}

interface Target {
  readonly expr?: string;
}
interface Panel {
  readonly type: string;
  readonly title?: string;
  readonly targets?: readonly Target[];
  readonly panels?: readonly Panel[];
}
interface Variable {
  readonly name: string;
  readonly type: string;
  readonly query?: string | { readonly query?: string };
  readonly definition?: string;
}
interface Dashboard {
  readonly schemaVersion: number;
  readonly panels: readonly Panel[];
  readonly templating: { readonly list: readonly Variable[] };
}

const dashboard = (): Dashboard => JSON.parse(readFileSync(DASHBOARD, 'utf8')) as Dashboard;

/** Every panel but rows, including the panels a collapsed row holds. */
function queryPanels(panels: readonly Panel[]): Panel[] {
  return panels.flatMap((p) => [...(p.type === 'row' ? [] : [p]), ...queryPanels(p.panels ?? [])]);
}

const queries = (d: Dashboard): { panel: string; expr: string }[] =>
  queryPanels(d.panels).flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title ?? '', expr: t.expr ?? '' })));
const exprs = (d: Dashboard): string[] => queries(d).map((q) => q.expr);

function variableQuery(v: Variable): string {
  return typeof v.query === 'string' ? v.query : (v.query?.query ?? v.definition ?? '');
}

/** The parts of prometheus.yml read here. */
interface HttpClient {
  readonly scheme?: string;
  readonly authorization?: { readonly type?: string; readonly credentials_file?: string; readonly credentials?: string };
  readonly bearer_token?: string;
  readonly bearer_token_file?: string;
  readonly tls_config?: { readonly ca_file?: string; readonly insecure_skip_verify?: boolean };
}
interface ScrapeJob extends HttpClient {
  readonly job_name: string;
  readonly http_sd_configs?: readonly (HttpClient & { readonly url: string })[];
  readonly relabel_configs?: readonly { readonly source_labels?: string[]; readonly regex?: string; readonly action?: string; readonly target_label?: string; readonly replacement?: string }[];
}
interface PromConfig {
  readonly rule_files?: string[];
  readonly scrape_configs: readonly ScrapeJob[];
}

const shipped = (): PromConfig => parse(readFileSync(CONFIG, 'utf8')) as PromConfig;

/** Every `credentials_file` and `ca_file` in `node` set to `files`' (a copy; the rest as it is). */
function withFiles(node: unknown, files: { credentials_file: string; ca_file: string }): unknown {
  if (Array.isArray(node)) return node.map((n) => withFiles(n, files));
  if (typeof node !== 'object' || node === null) return node;
  return Object.fromEntries(
    Object.entries(node).map(([k, v]) => [k, k === 'credentials_file' || k === 'ca_file' ? files[k] : withFiles(v, files)]),
  );
}

/** The `__scheme__` a job's relabeling forces (the last such rule), if any. */
const forcedScheme = (job: ScrapeJob): string | undefined => job.relabel_configs?.filter((r) => r.target_label === '__scheme__').at(-1)?.replacement;

const ready = requireTools(['promtool']);

describe('prometheus.yml and the control plane (https only, a token on every request)', () => {
  it('discovers through /sd over https with a token file and the cluster CA', () => {
    const sd = shipped().scrape_configs.flatMap((j) => j.http_sd_configs ?? []);
    expect(sd.length).toBeGreaterThan(0);
    for (const entry of sd) {
      expect(entry.url).toMatch(/^https:\/\/.+\/sd$/);
      expect(entry.authorization).toEqual({ type: 'Bearer', credentials_file: '/etc/prometheus/berth.token' });
      expect(entry.tls_config).toEqual({ ca_file: '/etc/prometheus/berth-ca.pem' });
    }
  });

  it('scrapes the control plane over https with the token, and the agents over plain http without one', () => {
    const jobs = shipped().scrape_configs;
    const keeps = (job: ScrapeJob) => job.relabel_configs?.find((r) => r.action === 'keep' && r.source_labels?.join() === '__meta_berth_role')?.regex;
    expect(jobs.map((j) => [j.job_name, keeps(j)])).toEqual([
      ['berth-control-plane', 'control-plane'],
      ['berth-agents', 'agent'],
    ]);
    const [plane, agents] = jobs as [ScrapeJob, ScrapeJob];
    expect(plane).toMatchObject({ scheme: 'https', authorization: { type: 'Bearer', credentials_file: '/etc/prometheus/berth.token' }, tls_config: { ca_file: '/etc/prometheus/berth-ca.pem' } });
    expect(forcedScheme(plane)).toBe('https');
    expect(agents.scheme).toBe('http');
    expect(forcedScheme(agents)).toBe('http');
    // A token sent to an agent would go out in plaintext.
    for (const key of ['authorization', 'bearer_token', 'bearer_token_file', 'tls_config'] as const) expect(agents[key], key).toBeUndefined();
    for (const job of jobs) expect(job.tls_config?.insecure_skip_verify ?? false, job.job_name).toBe(false);
  });
});

describe.runIf(ready)('promtool on deploy/prometheus', () => {
  it('accepts the syntax of prometheus.yml as shipped', async () => {
    const res = await promtool('check', 'config', '--syntax-only', CONFIG);
    expect(res.code, res.output).toBe(0);
  });

  it('accepts prometheus.yml with its token and CA files in place, and the rule files it loads', async () => {
    // promtool checks that the token and CA files exist: a copy names ones of this test.
    const dir = await mkdtemp(join(tmpdir(), 'berth-promtool-'));
    try {
      const files = { credentials_file: join(dir, 'berth.token'), ca_file: join(dir, 'berth-ca.pem') };
      await writeFile(files.credentials_file, `BERTHA1-aaaaaaaaaaaa.${'a'.repeat(32)}\n`, { mode: 0o600 });
      await writeFile(files.ca_file, createCa({ commonName: 'promtool test' }).certPem);
      const config = withFiles(shipped(), files) as PromConfig;
      const rules = (config.rule_files ?? []).map((f) => (isAbsolute(f) ? f : resolve(dirname(CONFIG), f)));
      const file = join(dir, 'prometheus.yml');
      await writeFile(file, stringify({ ...config, rule_files: rules }));
      const res = await promtool('check', 'config', file);
      expect(res.code, res.output).toBe(0);
      // A glob that matched nothing would pass the check with no alerts loaded.
      expect(res.output).toContain('berth-alerts.yml');
      expect(res.output).not.toContain('berth-alerts.test.yml');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('accepts the alerting rules', async () => {
    const res = await promtool('check', 'rules', RULES);
    expect(res.code, res.output).toBe(0);
  });

  it("passes the alerts' unit tests", async () => {
    const res = await promtool('test', 'rules', RULE_TESTS);
    expect(res.code, res.output).toBe(0);
  });

  it("parses every dashboard query as PromQL (Grafana's variables filled in)", async () => {
    const fill = (q: string) =>
      q.replaceAll('$__rate_interval', '1m').replaceAll('$__interval', '1m').replaceAll('$__range', '1h').replace(/\$\{?\w+\}?/g, '.*');
    // Recording rules named after their panel, so promtool's complaint says which one it is.
    const rules = queries(dashboard()).map((q, i) => ({ record: `dashboard:${q.panel.replace(/\W+/g, '_')}:${i}`, expr: fill(q.expr) }));
    const dir = await mkdtemp(join(tmpdir(), 'berth-dashboard-'));
    try {
      const file = join(dir, 'dashboard-queries.yml');
      await writeFile(file, stringify({ groups: [{ name: 'dashboard', rules }] }));
      const res = await promtool('check', 'rules', file);
      expect(res.code, res.output).toBe(0);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('berth alerts', () => {
  interface Rule {
    readonly alert?: string;
    readonly labels?: Record<string, string>;
    readonly annotations?: Record<string, string>;
  }
  interface Case {
    readonly alertname: string;
    readonly exp_alerts?: readonly unknown[] | null;
  }
  const rules = (parse(readFileSync(RULES, 'utf8')) as { groups: { name: string; rules: Rule[] }[] }).groups.flatMap((g) => g.rules);
  const alerts = rules.filter((r): r is Rule & { alert: string } => r.alert !== undefined);
  const tests = parse(readFileSync(RULE_TESTS, 'utf8')) as { tests: { alert_rule_test?: Case[] }[] };
  const cases = tests.tests.flatMap((t) => t.alert_rule_test ?? []);

  it('has a severity and a summary and description on every alert', () => {
    expect(alerts.length).toBeGreaterThan(0);
    for (const a of alerts) {
      expect(['critical', 'warning'], a.alert).toContain(a.labels?.['severity']);
      expect(a.annotations?.['summary'], a.alert).toBeTruthy();
      expect(a.annotations?.['description'], a.alert).toBeTruthy();
    }
  });

  it('tests every alert both firing and staying silent', () => {
    const missing = alerts.flatMap((a) => {
      const own = cases.filter((c) => c.alertname === a.alert);
      return [
        ...(own.some((c) => (c.exp_alerts ?? []).length > 0) ? [] : [`${a.alert}: no case where it fires`]),
        ...(own.some((c) => (c.exp_alerts ?? []).length === 0) ? [] : [`${a.alert}: no case where it stays silent`]),
      ];
    });
    expect(missing).toEqual([]);
  });

  it('tests no alert that does not exist (a silent case would pass for a misspelt name)', () => {
    const names = new Set(alerts.map((a) => a.alert));
    expect(cases.map((c) => c.alertname).filter((n) => !names.has(n))).toEqual([]);
  });

  it('uses only metrics of the contract', () => {
    const exprs = rules.map((r) => (r as { expr?: string }).expr ?? '');
    expect(exprs.flatMap(unknownMetrics)).toEqual([]);
  });
});

describe('Grafana dashboard', () => {
  it('is a dashboard with a Prometheus data source variable and service and node variables', () => {
    const d = dashboard();
    expect(d.schemaVersion).toBeGreaterThanOrEqual(36);
    const vars = new Map(d.templating.list.map((v) => [v.name, v]));
    expect(vars.get('datasource')).toMatchObject({ type: 'datasource', query: 'prometheus' });
    expect(variableQuery(vars.get('service')!)).toMatch(/^label_values\(\w+, service\)$/);
    expect(variableQuery(vars.get('node')!)).toMatch(/^label_values\(\w+, node\)$/);
  });

  it('gives every panel, in rows too, targets that all have a query', () => {
    const panels = queryPanels(dashboard().panels);
    expect(panels.length).toBeGreaterThan(0);
    const without = panels.filter((p) => (p.targets ?? []).length === 0 || (p.targets ?? []).some((t) => !t.expr?.trim()));
    expect(without.map((p) => p.title)).toEqual([]);
  });

  it('queries only metrics of the contract', () => {
    const d = dashboard();
    const queries = [...exprs(d), ...d.templating.list.map(variableQuery)];
    expect(queries.flatMap(unknownMetrics)).toEqual([]);
  });

  it('would notice a renamed metric', () => {
    expect(unknownMetrics('histogram_quantile(0.9, sum by (le) (rate(berth_failover_duration_seconds_bucket[5m])))')).toEqual([]);
    expect(unknownMetrics('sum(berth_leaders) / container_memory_working_set')).toEqual(['berth_leaders', 'container_memory_working_set']);
  });
});

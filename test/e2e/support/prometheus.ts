import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { parse, stringify } from 'yaml';
import { collect, eventually, freePort, REPO } from './berth-cli';

/** The Prometheus configuration berth ships; tests run it, adjusted only where a test must. */
export const SHIPPED_CONFIG = join(REPO, 'deploy/prometheus/prometheus.yml');

/** One series of an instant query's answer, its value as a number. */
export interface PromSample {
  readonly metric: Readonly<Record<string, string>>;
  readonly value: number;
}

/** An entry of `/api/v1/targets` → `activeTargets`. */
export interface PromTarget {
  readonly labels: Readonly<Record<string, string>>;
  readonly discoveredLabels: Readonly<Record<string, string>>;
  readonly scrapeUrl: string;
  readonly health: 'up' | 'down' | 'unknown';
  readonly lastError: string;
}

/** An entry of `/api/v1/alerts` → `alerts`. */
export interface PromAlert {
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
  readonly state: 'pending' | 'firing';
  readonly activeAt: string;
  readonly value: string;
}

interface HttpClientConfig {
  authorization?: { type?: string; credentials_file?: string };
  tls_config?: { ca_file?: string };
}

interface ShippedConfig {
  global?: Record<string, unknown>;
  rule_files?: string[];
  scrape_configs?: (HttpClientConfig & { job_name: string; http_sd_configs?: (HttpClientConfig & { url: string; refresh_interval?: string })[] })[];
}

/**
 * deploy/prometheus/prometheus.yml as a test runs it: its jobs, rules and relabeling as they are,
 * with these changes — every http_sd URL is `sdUrl` (the test's control plane), every token file
 * (`authorization.credentials_file`) is `credentialsFile` and every CA file (`tls_config.ca_file`)
 * is `caFile` (the test writes them: a viewer token, the cluster CA), scrapes, rule evaluations and
 * discovery refreshes happen every `interval` (a test cannot wait 15 s a round), and rule_files
 * are made absolute against the shipped file's directory (the generated file lives in a temp dir).
 * Throws when the shipped file no longer has the shape this relies on.
 */
export async function shippedConfig(o: { sdUrl: string; interval: string; credentialsFile: string; caFile: string }): Promise<ShippedConfig> {
  const config = parse(await readFile(SHIPPED_CONFIG, 'utf8')) as ShippedConfig;
  const jobs = config.scrape_configs ?? [];
  const sd = jobs.flatMap((job) => job.http_sd_configs ?? []);
  if (sd.length === 0) throw new Error(`${SHIPPED_CONFIG}: no scrape config uses http_sd_configs`);
  if ((config.rule_files ?? []).length === 0) throw new Error(`${SHIPPED_CONFIG}: no rule_files`);
  // /sd is on the API: every discovery needs the token and the CA; so does at least one job (the control plane's).
  const unauthenticated = sd.filter((e) => !e.authorization?.credentials_file || !e.tls_config?.ca_file);
  if (unauthenticated.length > 0) throw new Error(`${SHIPPED_CONFIG}: an http_sd_configs entry without authorization.credentials_file or tls_config.ca_file`);
  if (!jobs.some((j) => j.authorization?.credentials_file && j.tls_config?.ca_file)) throw new Error(`${SHIPPED_CONFIG}: no job scrapes with a token and the cluster CA`);
  for (const client of [...jobs, ...sd]) {
    if (client.authorization?.credentials_file) client.authorization.credentials_file = o.credentialsFile;
    if (client.tls_config?.ca_file) client.tls_config.ca_file = o.caFile;
  }
  for (const entry of sd) {
    entry.url = o.sdUrl;
    entry.refresh_interval = o.interval;
  }
  // Prometheus refuses a scrape timeout longer than the interval (its default timeout is 10 s).
  config.global = { ...config.global, scrape_interval: o.interval, scrape_timeout: o.interval, evaluation_interval: o.interval };
  config.rule_files = (config.rule_files ?? []).map((f) => (isAbsolute(f) ? f : resolve(dirname(SHIPPED_CONFIG), f)));
  return config;
}

/**
 * A real Prometheus server as a child process: on a free loopback port, with its configuration and
 * TSDB in a temp dir of its own, and a small client for its HTTP API. `stop()` ends it (SIGTERM,
 * then SIGKILL) and removes the temp dir; it is idempotent.
 */
export class PrometheusServer {
  private constructor(
    private readonly child: ChildProcess,
    private readonly output: { stdout(): string; stderr(): string },
    readonly dir: string,
    readonly url: string,
  ) {}

  /** Starts Prometheus with `config` (an object, written as YAML) and waits until it is ready. */
  static async start(config: object, opts: { tempPrefix?: string } = {}): Promise<PrometheusServer> {
    const dir = await mkdtemp(join(tmpdir(), opts.tempPrefix ?? 'berth-e2e-prom-'));
    const file = join(dir, 'prometheus.yml');
    await writeFile(file, stringify(config));
    const listen = `127.0.0.1:${await freePort()}`;
    const args = [`--config.file=${file}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=${listen}`, '--log.level=warn'];
    const child = spawn('prometheus', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    child.on('error', () => undefined); // a failed spawn leaves no pid: start() reports it below
    const server = new PrometheusServer(child, collect(child), dir, `http://${listen}`);
    try {
      await eventually(`Prometheus ready on ${listen}`, async () => {
        if (child.pid === undefined) throw new Error('prometheus could not be started (is it installed?)');
        if (server.exited) throw new Error(`prometheus exited (${child.exitCode ?? child.signalCode}):\n${server.logTail()}`);
        const res = await fetch(`${server.url}/-/ready`, { signal: AbortSignal.timeout(2000) }).catch(() => undefined);
        return res?.status === 200 ? true : undefined;
      });
      return server;
    } catch (e) {
      await server.stop();
      throw e;
    }
  }

  get exited(): boolean {
    return this.child.exitCode !== null || this.child.signalCode !== null;
  }

  /** The last lines Prometheus logged (it logs to stderr), for a failure message. */
  logTail(lines = 20): string {
    return this.output.stderr().split('\n').slice(-lines).join('\n');
  }

  /** An instant query, evaluated now. */
  async query(expr: string): Promise<PromSample[]> {
    const data = await this.get<{ resultType: string; result: { metric: Record<string, string>; value: [number, string] }[] }>('/api/v1/query', { query: expr });
    if (data.resultType !== 'vector') throw new Error(`${expr}: a ${data.resultType}, not an instant vector`);
    return data.result.map((r) => ({ metric: r.metric, value: Number(r.value[1]) }));
  }

  /** The targets Prometheus scrapes now (discovered and kept by relabeling). */
  async targets(): Promise<PromTarget[]> {
    return (await this.get<{ activeTargets: PromTarget[] }>('/api/v1/targets', { state: 'active' })).activeTargets;
  }

  /** The alerts pending or firing now. */
  async alerts(): Promise<PromAlert[]> {
    return (await this.get<{ alerts: PromAlert[] }>('/api/v1/alerts')).alerts;
  }

  /** Polls `check` until it returns a value; on giving up, says what Prometheus last logged. */
  async until<T>(what: string, check: () => Promise<T | undefined>, deadlineMs = 60_000): Promise<T> {
    return eventually(what, check, deadlineMs).catch((e: Error) => {
      throw new Error(`${e.message}\n--- prometheus log:\n${this.logTail()}`);
    });
  }

  /** Waits until `expr` answers at least one series and `accept` takes the answer; returns it. */
  async queryUntil(expr: string, accept: (samples: PromSample[]) => boolean, deadlineMs = 60_000): Promise<PromSample[]> {
    let last: PromSample[] = [];
    return this.until(
      `${expr} to satisfy the test`,
      async () => {
        last = await this.query(expr);
        return last.length > 0 && accept(last) ? last : undefined;
      },
      deadlineMs,
    ).catch((e: Error) => {
      throw new Error(`${e.message}\n--- last answer: ${JSON.stringify(last)}`);
    });
  }

  /** SIGTERM (SIGKILL after 15 s), then the temp dir goes. Idempotent. */
  async stop(): Promise<void> {
    if (this.child.pid !== undefined && !this.exited) {
      const exited = once(this.child, 'exit');
      this.child.kill('SIGTERM');
      const timer = setTimeout(() => this.child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
    }
    await rm(this.dir, { recursive: true, force: true });
  }

  private async get<T>(path: string, params: Record<string, string> = {}): Promise<T> {
    const url = `${this.url}${path}?${new URLSearchParams(params).toString()}`;
    const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
    const body = (await res.json()) as { status: string; data?: T; error?: string };
    if (body.status !== 'success' || body.data === undefined) throw new Error(`GET ${url}: ${res.status} ${body.error ?? JSON.stringify(body)}`);
    return body.data;
  }
}

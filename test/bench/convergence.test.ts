import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiFetch } from '../support/api';
import { requireTools } from '../support/prereq';
import { serviceManifest, type ServiceSketch } from '../e2e/support/cluster';
import { UpCluster } from '../e2e/support/up-cluster';
import { timeBareRunc } from './bare-runc';
import { SWARM_PEER, timeSwarm } from './swarm-peer';

/**
 * Convergence: how long from "apply" until N replicas run, on one node, beside a bare `runc run`
 * of the same bundle and beside Docker Swarm on the same machine in the same run. Figures are
 * printed (and written to $BERTH_BENCH_OUT when set), never asserted: machines are shared and noisy.
 * What is asserted is that the runs were real — every replica ran.
 */
const ready = requireTools(['etcd', 'runc', 'conmon', 'skopeo', 'umoci', 'busybox', 'docker-registry', 'ip', 'iptables', 'nft'], { root: true });

const COMMAND = ['sleep', '3600']; // what the Swarm peer runs
const SMALL_RUNS = 5;
const SIZES = [1, 100] as const;

interface Figure {
  readonly what: string;
  readonly seconds: number;
  readonly note?: string;
}

const median = (xs: readonly number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

describe.runIf(ready)('convergence benchmark', () => {
  let cluster: UpCluster;
  const figures: Figure[] = [];
  let counter = 0;

  beforeAll(async () => {
    cluster = await UpCluster.start('berth-bench-');
    // Pull once, as any node would have after its first task of this image: the figures are convergence, not download.
    await converge(1);
  });

  afterAll(async () => {
    await cluster?.close();
    const lines = figures.map((f) => `${f.what.padEnd(48)} ${f.seconds.toFixed(3).padStart(8)} s${f.note ? `  (${f.note})` : ''}`);
    console.log(`\nberth convergence benchmark (${new Date().toISOString()})\n${lines.join('\n')}\n`);
    if (process.env.BERTH_BENCH_OUT) await writeFile(process.env.BERTH_BENCH_OUT, JSON.stringify(figures, null, 2));
  });

  /** Applies a fresh service of `replicas` and polls the API until all run; returns seconds. Deletes it after. */
  async function converge(replicas: number): Promise<{ apiSeconds: number; cliSeconds: number; deleteSeconds: number }> {
    const s: ServiceSketch = { name: `bench${++counter}`, image: cluster.image, replicas, command: COMMAND };
    const path = join(cluster.workDir, `${s.name}.yaml`);
    await writeFile(path, serviceManifest(s));
    const started = performance.now();
    const cli = cluster.cli.run(['apply', '-f', path, '--wait', '--timeout', '10m']);
    const apiSeconds = await untilRunning(s.name, replicas, started);
    const r = await cli;
    const cliSeconds = (performance.now() - started) / 1000;
    expect(r.code, r.stderr).toBe(0);
    expect(await cluster.cli.running(s.name)).toHaveLength(replicas);
    cluster.remember(await cluster.cli.tasks(s.name));
    const deleting = performance.now();
    expect((await cluster.cli.run(['delete', 'service', s.name])).code).toBe(0);
    await cluster.cli.tasksGone(s.name, 600_000);
    return { apiSeconds, cliSeconds, deleteSeconds: (performance.now() - deleting) / 1000 };
  }

  /** Seconds since `started` at which the API first reports `replicas` running (polled every 25 ms). */
  async function untilRunning(name: string, replicas: number, started: number): Promise<number> {
    const admin = await cluster.access();
    for (;;) {
      const res = await apiFetch(admin, `/api/v1/services/${name}`).catch(() => undefined);
      if (res?.ok) {
        const svc = await res.json<{ status?: { running?: number } }>();
        if ((svc.status?.running ?? 0) >= replicas) return (performance.now() - started) / 1000;
      }
      if (performance.now() - started > 600_000) throw new Error(`${name} did not reach ${replicas} running in 10 minutes`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  it('bare runc run of the same bundle', async () => {
    const times = await timeBareRunc(cluster.layout, COMMAND, SMALL_RUNS);
    figures.push({ what: 'bare runc run --detach (same image, same command)', seconds: median(times), note: `median of ${SMALL_RUNS}` });
  });

  for (const n of SIZES) {
    it(`berth: apply → ${n} running`, async () => {
      const runs = n === 1 ? SMALL_RUNS : 1;
      const results = [];
      for (let i = 0; i < runs; i++) results.push(await converge(n));
      const note = runs > 1 ? `median of ${runs}` : undefined;
      figures.push({ what: `berth N=${n}: apply → all running (API)`, seconds: median(results.map((r) => r.apiSeconds)), ...(note ? { note } : {}) });
      figures.push({ what: `berth N=${n}: berth apply --wait (CLI wall time)`, seconds: median(results.map((r) => r.cliSeconds)), ...(note ? { note } : {}) });
      figures.push({ what: `berth N=${n}: delete → all tasks gone`, seconds: median(results.map((r) => r.deleteSeconds)), ...(note ? { note } : {}) });
    });
  }

  it('Docker Swarm on the same machine (swarm-peer.sh)', async () => {
    const swarm = await timeSwarm(SIZES);
    if (!swarm) {
      console.warn(`no Swarm figures: ${SWARM_PEER} is not there (set BERTH_SWARM_PEER)`);
      return;
    }
    for (const [n, seconds] of swarm) figures.push({ what: `swarm N=${n}: service create → N/N`, seconds });
  });
});

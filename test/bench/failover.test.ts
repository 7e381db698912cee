import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireTools } from '../support/prereq';
import type { NodeJson, ServiceJson, ServiceSketch, TaskJson } from '../e2e/support/cluster';
import { LabCluster } from '../e2e/support/lab-cluster';
import { isRunning, restoreBaseline, settledTaskSet } from '../e2e/support/task-set';

/**
 * Failover: three hosts (LabCluster), web at 6 replicas spread 2/2/2; five times, one agent is
 * killed (-9) and its link set down, and the time until 6 run again on the other two is measured
 * from the API (`/api/v1/services` and `/api/v1/tasks`: what `berth get … -o json` prints), polled
 * every 100 ms. Split: detection = kill → node reported down (the "down since" time in the replaced
 * tasks' records, else the first poll that saw the node down); replacement = down → 6/6.
 * Figures are printed, never asserted; what is asserted is that every run converged.
 */
const ready = requireTools(['etcd', 'runc', 'conmon', 'skopeo', 'umoci', 'busybox', 'docker-registry', 'ip', 'nsenter', 'iptables', 'iptables-save', 'nft'], { root: true });

const RUNS = 5;
const HOSTS = 3;
const DOWN_AFTER = '5s';
const POLL_MS = 100;
const GIVE_UP_MS = 300_000;
const SERVE_HOSTNAME = ['sh', '-c', 'mkdir -p /www && echo $HOSTNAME > /www/index.html && exec httpd -f -p 8080 -h /www'];

interface Run {
  readonly run: number;
  readonly node: string;
  /** Seconds: kill → node down; undefined when the node was never seen down. */
  readonly detection?: number;
  /** Seconds: node down → 6/6. */
  readonly replacement?: number;
  /** Seconds, the replacement split: down → the last replacement created (planning); → the last one started (placing and starting); → 6/6 seen by the API. */
  readonly plan?: number;
  readonly start?: number;
  readonly report?: number;
  /** Seconds: kill → 6/6. */
  readonly total: number;
  /** Where the down time came from. */
  readonly downFrom: 'task record' | 'node poll' | 'never seen';
  /** Seconds: kill → the first poll that saw the node down (for comparison with the record's time). */
  readonly polled?: number;
}

const median = (xs: readonly number[]): number | undefined => (xs.length === 0 ? undefined : [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]);
const fmt = (s: number | undefined) => (s === undefined ? '      -' : `${s.toFixed(2).padStart(7)}`);

describe.runIf(ready)('failover benchmark', () => {
  let cluster: LabCluster | undefined;
  let web: ServiceSketch;
  const runs: Run[] = [];

  beforeAll(async () => {
    // Its own lab network, subnets and names, so it can run beside the e2e suite (10.244.0, 10.245.N, bnod…).
    cluster = await LabCluster.start({
      hosts: HOSTS,
      net: '10.246.0',
      subnetOctet: 247,
      family: 'bfov',
      tempPrefix: 'berth-bench-failover-',
      nodeDownAfter: DOWN_AFTER,
    });
    web = { name: 'web', image: cluster.image, replicas: 6, command: SERVE_HOSTNAME, memory: '32Mi', stopGracePeriod: '2s' };
  });

  afterAll(async () => {
    const lines = runs.map(
      (r) => `run ${r.run}  ${r.node.padEnd(12)} ${fmt(r.detection)} ${fmt(r.replacement)} ${fmt(r.plan)} ${fmt(r.start)} ${fmt(r.report)} ${fmt(r.total)} ${fmt(r.polled)}   (down time from ${r.downFrom})`,
    );
    const med = (pick: (r: Run) => number | undefined) => fmt(median(runs.map(pick).filter((x): x is number => x !== undefined)));
    console.log(
      [
        `\nberth failover benchmark (${new Date().toISOString()}): kill -9 + link down of one of ${HOSTS} agents, 6 replicas, --node-down-after ${DOWN_AFTER}; seconds`,
        `              node         detect  replace     plan    start   report    total   polled`,
        ...lines,
        `median                    ${[(r: Run) => r.detection, (r: Run) => r.replacement, (r: Run) => r.plan, (r: Run) => r.start, (r: Run) => r.report, (r: Run) => r.total, (r: Run) => r.polled].map(med).join(' ')}`,
        `detect = kill → node down (the "down since" time of the replaced tasks' records, else the first poll`,
        `that saw it down); replace = down → 6/6, split into plan (→ last replacement created), start`,
        `(→ last replacement's container started: placement, prepare, start) and report (→ 6/6 seen by`,
        `the API); polled = kill → the first 100 ms poll that saw the node down\n`,
      ].join('\n'),
    );
    if (!cluster) return;
    await cluster.destroy();
    expect(await cluster.leftovers()).toEqual([]);
  });

  it(`kill -9 and link down of one agent, ${RUNS} times`, async () => {
    const c = cluster!;
    for (let run = 1; run <= RUNS; run++) {
      await restoreBaseline(c, web);
      const k = (run - 1) % HOSTS;
      runs.push(await failOver(c, run, k));
      await c.linkUp(k);
      await c.startAgent(k);
      await c.cli.readyNodes(HOSTS, 120_000);
      await settledTaskSet(c, { service: 'web', replicas: 6 }); // the returned node's old containers are gone
    }
    expect(runs).toHaveLength(RUNS);
  });
});

/** One failover of node k: returns its figures once 6 run on the other nodes; throws when they never do. */
async function failOver(c: LabCluster, run: number, k: number): Promise<Run> {
  const node = c.nodes[k]!.name;
  const victims = (await c.cli.running('web')).filter((t) => t.status.node === node).map((t) => t.metadata.name);
  const killedAt = Date.now();
  await c.killAgent(k);
  await c.linkDown(k);
  let polledDownAt: number | undefined;
  let convergedAt: number | undefined;
  while (convergedAt === undefined) {
    const at = Date.now();
    if (at - killedAt > GIVE_UP_MS) throw new Error(`run ${run}: 6 of web did not run again within ${GIVE_UP_MS / 1000} s of killing ${node}`);
    const state = await poll(c, node).catch(() => undefined);
    if (state?.nodeState === 'down') polledDownAt ??= at;
    if (state && state.running === 6 && state.upElsewhere === 6) convergedAt = at;
    else await sleep(Math.max(0, at + POLL_MS - Date.now()));
  }
  const tasks = await c.api<TaskJson[]>('/api/v1/tasks?service=web');
  const recorded = downSinceFromRecords(tasks, victims);
  const downAt = recorded ?? polledDownAt;
  const split = downAt === undefined ? {} : replacementSplit(tasks, victims, downAt, convergedAt);
  return {
    run,
    node,
    total: (convergedAt - killedAt) / 1000,
    ...(downAt === undefined ? {} : { detection: (downAt - killedAt) / 1000, replacement: (convergedAt - downAt) / 1000, ...split }),
    ...(polledDownAt === undefined ? {} : { polled: (polledDownAt - killedAt) / 1000 }),
    downFrom: recorded !== undefined ? 'task record' : polledDownAt !== undefined ? 'node poll' : 'never seen',
  };
}

async function poll(c: LabCluster, node: string): Promise<{ nodeState: string; running: number; upElsewhere: number }> {
  const [n, svc, tasks] = await Promise.all([
    c.api<NodeJson>(`/api/v1/nodes/${node}`),
    c.api<ServiceJson>('/api/v1/services/web'),
    c.api<TaskJson[]>('/api/v1/tasks?service=web'),
  ]);
  return { nodeState: n.status.state, running: svc.status.running, upElsewhere: tasks.filter((t) => isRunning(t) && t.status.node !== node).length };
}

/** The earliest "down since <ISO time>" in the replaced tasks' messages, as epoch ms. */
function downSinceFromRecords(tasks: readonly TaskJson[], victims: readonly string[]): number | undefined {
  const times = tasks
    .filter((t) => victims.includes(t.metadata.name))
    .map((t) => /down since (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)?)/.exec(t.status.message ?? '')?.[1])
    .map((s) => (s ? Date.parse(s) : NaN))
    .filter((ms) => Number.isFinite(ms));
  return times.length === 0 ? undefined : Math.min(...times);
}

/** Where the time after the node went down went, from the replacements' own records. */
function replacementSplit(tasks: readonly TaskJson[], victims: readonly string[], downAt: number, convergedAt: number): Pick<Run, 'plan' | 'start' | 'report'> {
  const replacements = tasks.filter((t) => t.spec.replaces !== undefined && victims.includes(t.spec.replaces));
  const latest = (times: (string | undefined)[]) => Math.max(...times.map((x) => (x ? Date.parse(x) : NaN)).filter((ms) => Number.isFinite(ms)));
  const created = latest(replacements.map((t) => t.metadata.createdAt));
  const started = latest(replacements.map((t) => t.status.startedAt));
  if (!Number.isFinite(created) || !Number.isFinite(started)) return {};
  return { plan: (created - downAt) / 1000, start: (started - created) / 1000, report: (convergedAt - started) / 1000 };
}

import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { apiJson } from '../../support/api';
import { EventWatch } from '../support/event-watch';
import { mountsUnder } from '../../support/node-host';
import { requireTools } from '../../support/prereq';
import { eventually } from '../support/berth-cli';
import { serviceManifest, type ServiceJson, type ServiceSketch, type TaskJson } from '../support/cluster';
import type { HostGuard } from '../support/host-guard';
import { describeSamples, readings, Sampler } from '../support/sampler';
import { captureUpHost, closeAndCheckHost, UpCluster } from '../support/up-cluster';

const ready = requireTools(['etcd', 'runc', 'conmon', 'skopeo', 'umoci', 'busybox', 'ip', 'iptables', 'iptables-save', 'nft', 'unshare'], { root: true });

/** Serves "<version> <task id>": a reply proves which version and which task answered. */
const serve = (version: string): string[] => [
  'sh',
  '-c',
  `mkdir -p /www && echo "${version} $HOSTNAME" > /www/index.html && echo "${version} serving" && exec httpd -f -p 8080 -h /www`,
];

async function httpBody(url: string): Promise<string | undefined> {
  const res = await fetch(url, { signal: AbortSignal.timeout(3000) }).catch(() => undefined);
  return res?.ok ? (await res.text()).trim() : undefined;
}

/** What a user sees of the service at one moment: running tasks (meant to run) by id. */
interface Moment {
  readonly running: readonly string[];
}

describe.runIf(ready)('rolling updates on berth up: paced, health-gated, paused or rolled back on failure', () => {
  let cluster: UpCluster;
  let guard: HostGuard;
  let v1: ServiceSketch;
  let v2: ServiceSketch;

  /** GET `path` of the API as the admin (https, the cluster CA, the token of `berth up`'s admin.yaml). */
  const api = async <T>(path: string): Promise<T> => apiJson<T>(await cluster.access(), path, { timeoutMs: 5000 });
  const tasksOf = async (service: string) => cluster.remember(await api<TaskJson[]>(`/api/v1/tasks?service=${service}`));
  const runningOf = async (service: string) => (await tasksOf(service)).filter((t) => t.status.state === 'running' && t.spec.desiredState === 'running');
  const serviceOf = (name: string) => api<ServiceJson>(`/api/v1/services/${name}`);
  /** What each running task of `service` answers: "<version> <its own id>". */
  const versions = async (service: string): Promise<string[]> => {
    const out: string[] = [];
    for (const t of await runningOf(service)) {
      const body = await eventually(`${t.metadata.name} to answer`, () => httpBody(`http://${t.status.ip}:8080/`), 15_000);
      expect(body.endsWith(t.metadata.name), `${t.metadata.name} answered "${body}"`).toBe(true);
      out.push(body.split(' ')[0]!);
    }
    return out.sort();
  };
  const sample = (service: string) => Sampler.start<Moment>(async () => ({ running: (await runningOf(service)).map((t) => t.metadata.name) }));
  /** Brings `web` back to 4 tasks of v2 (undo of a failed rollout), as an operator would. */
  const undoToV2 = async () => {
    const r = await cluster.cli.run(['rollout', 'undo', 'web', '--wait', '--timeout', '90s']);
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(await versions('web')).toEqual(['v2', 'v2', 'v2', 'v2']);
  };

  beforeAll(async () => {
    guard = captureUpHost();
    cluster = await UpCluster.start('berth-e2e-rollout-');
    // httpd as PID 1 ignores SIGTERM: a short stop grace keeps each replacement quick.
    v1 = { name: 'web', image: cluster.image, replicas: 4, command: serve('v1'), memory: '32Mi', stopGracePeriod: '1s', update: { monitor: '1s' } };
    v2 = { ...v1, command: serve('v2'), update: { monitor: '1s', delay: '2s' } };
  });

  afterEach(() => EventWatch.stopAll());
  afterAll(() => closeAndCheckHost(cluster, guard));

  it('a good v2 with delay 2s: every slot updated, one at a time at least 2 s apart, never fewer than 3 running', async () => {
    const first = await cluster.cli.apply(v1, ['--wait']);
    expect(first.code, first.stderr).toBe(0);
    const before = new Set((await tasksOf('web')).map((t) => t.metadata.name));
    const sampler = sample('web');
    let r;
    try {
      r = await cluster.cli.apply(v2, ['--wait', '--timeout', '120s']);
    } finally {
      await sampler.stop();
    }
    expect(r.code, r.stderr).toBe(0);
    expect(await versions('web')).toEqual(['v2', 'v2', 'v2', 'v2']);
    const counts = readings(sampler.samples).map((s) => s.value.running.length);
    expect(Math.min(...counts), describeSamples(sampler.samples)).toBeGreaterThanOrEqual(3);
    const created = (await tasksOf('web'))
      .filter((t) => !before.has(t.metadata.name))
      .map((t) => Date.parse(t.metadata.createdAt!))
      .sort((a, b) => a - b);
    expect(created).toHaveLength(4);
    const gaps = created.slice(1).map((at, i) => at - created[i]!);
    console.log(`[rollout] v2: replacements created ${gaps.map((g) => (g / 1000).toFixed(1)).join(' s, ')} s apart (delay 2 s, monitor 1 s)`);
    for (const gap of gaps) expect(gap).toBeGreaterThanOrEqual(2000);
    const status = await cluster.cli.run(['rollout', 'status', 'web', '-o', 'json']);
    expect(status.code, status.stderr).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({ state: 'completed', updated: 4, total: 4 });
  });

  const failing: [string, (v: ServiceSketch) => ServiceSketch, RegExp][] = [
    ['whose command exits 1', (v) => ({ ...v, command: ['sh', '-c', 'echo v3 failing; exit 1'] }), /exit(ed with)? code 1/],
    ['whose image does not exist', (v) => ({ ...v, image: v.image!.replace('/busybox:1', '/does-not-exist:1') }), /does-not-exist/],
    [
      'that runs 2 s and then exits 1, within a 5 s monitor',
      (v) => ({ ...v, command: ['sh', '-c', 'echo v4; sleep 2; exit 1'], update: { monitor: '5s' } }),
      /exit(ed with)? code 1/,
    ],
  ];

  it.each(failing)('a v3 %s: the rollout pauses after the first failure, 3 tasks of v2 keep serving, apply --wait exits 3 naming it', async (_what, make, why) => {
    const v3 = make(v2);
    const r = await cluster.cli.apply({ ...v3, update: { delay: '0s', ...v3.update } }, ['--wait', '--timeout', '90s']);
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(3);
    expect(r.stderr).toMatch(/paused/);
    expect(r.stderr).toMatch(why);
    expect(r.stderr).toMatch(/web\.1\./); // the failed task, by id
    const svc = await serviceOf('web');
    expect(svc.status.rollout).toMatchObject({ state: 'paused', failed: 1 });
    expect(await versions('web')).toEqual(['v2', 'v2', 'v2']);
    const status = await cluster.cli.run(['rollout', 'status', 'web']);
    expect(status.code, status.stderr).toBe(3);
    await undoToV2();
  });

  const rollingBack: [string, (v: ServiceSketch) => ServiceSketch, RegExp][] = [
    ['whose command exits 1', (v) => ({ ...v, command: ['sh', '-c', 'echo v3 failing; exit 1'] }), /exit(ed with)? code 1/],
    ['whose health check never passes', (v) => ({ ...v, command: serve('v3'), healthCheck: { exec: ['false'], interval: '1s', timeout: '1s', retries: 1 } }), /health check/],
  ];

  it.each(rollingBack)('a v3 %s, with failureAction rollback: all 4 run v2 again, rollout status says rolled back', async (_what, make, why) => {
    const v3 = { ...make(v2), update: { monitor: '1s', failureAction: 'rollback' }, rollback: { monitor: '1s' } };
    const watch = await cluster.cli.watchEvents(['--service', 'web']);
    const r = await cluster.cli.apply(v3, ['--wait', '--timeout', '90s']);
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(3);
    // `berth events -w`, started before the apply, tells the story in order.
    await watch.until('rollout/web RolledBack', (e) => e.kind === 'rollout' && e.reason === 'RolledBack');
    const story = watch.summary((e) => e.kind !== 'task' && e.reason !== 'Progressed');
    expect(story).toEqual(['service/web Updated', 'rollout/web Started', 'rollout/web RollingBack', 'rollout/web RolledBack']);
    const failedAt = watch.events.findIndex((e) => e.kind === 'task' && (e.reason === 'Failed' || e.reason === 'Unhealthy'));
    const rollingBackAt = watch.events.findIndex((e) => e.reason === 'RollingBack');
    expect(failedAt, watch.summary().join('\n')).toBeGreaterThanOrEqual(0);
    expect(failedAt).toBeLessThan(rollingBackAt);
    expect(watch.events[failedAt]!.message).toMatch(why);
    expect(watch.events[rollingBackAt]!.message).toMatch(why);
    expect(await watch.stop()).toBe(0);
    expect(r.stderr).toMatch(/rolled back to revision \d+/);
    expect(r.stderr).toMatch(why);
    expect(await versions('web')).toEqual(['v2', 'v2', 'v2', 'v2']);
    const status = await cluster.cli.run(['rollout', 'status', 'web', '-o', 'json']);
    expect(status.code, status.stderr).toBe(3);
    expect(JSON.parse(status.stdout)).toMatchObject({ state: 'rolled-back' });
    const history = await cluster.cli.run(['rollout', 'history', 'web']);
    expect(history.code, history.stderr).toBe(0);
    expect(history.stdout).toMatch(/rollback to revision \d+/);
  });

  it('start-first with a failing v2: the old tasks never stop; records, namespaces, mounts and leases stay bounded', async () => {
    const sf: ServiceSketch = {
      name: 'sf',
      image: cluster.image,
      replicas: 2,
      command: serve('v1'),
      memory: '32Mi',
      stopGracePeriod: '1s',
      update: { order: 'start-first', monitor: '1s', failureAction: 'continue' },
      restartPolicy: { delay: '500ms', maxDelay: '1s' },
    };
    const r1 = await cluster.cli.apply(sf, ['--wait']);
    expect(r1.code, r1.stderr).toBe(0);
    const old = (await runningOf('sf')).map((t) => t.metadata.name).sort();
    const netns = async () => (await readdir('/run/netns').catch(() => [] as string[])).filter((n) => n.startsWith('berth-sf.')).length;
    const mounts = async () => (await mountsUnder(cluster.dataDir)).filter((m) => m.includes('/sf.')).length;
    const leases = async () => {
      const dir = join(cluster.dataDir, 'agent', 'cni');
      const files = await readdir(dir, { recursive: true }).catch(() => [] as string[]);
      // host-local IPAM keeps one file per leased address, holding the task id.
      const texts = await Promise.all(files.map((f) => readFile(join(dir, f), 'utf8').catch(() => '')));
      return texts.filter((text) => text.includes('sf.')).length;
    };
    const baseline = { netns: await netns(), mounts: await mounts(), leases: await leases() };
    const sampler = Sampler.start(async () => (await runningOf('sf')).map((t) => t.metadata.name));
    try {
      const r2 = await cluster.cli.apply({ ...sf, command: ['sh', '-c', 'echo v2 failing; exit 1'] }, ['--wait', '--timeout', '20s']);
      expect(r2.code, `${r2.stdout}\n${r2.stderr}`).toBe(1); // timed out: with continue the rollout goes on retrying
    } finally {
      await sampler.stop();
    }
    for (const s of readings(sampler.samples)) expect(old.every((id) => s.value.includes(id)), `at ${s.at}: ${s.value.join(', ')}`).toBe(true);
    const records = await tasksOf('sf');
    const describe = records.map((t) => `${t.metadata.name} ${t.spec.desiredState} ${t.status.state} ${t.metadata.createdAt}`).join('\n');
    // Per slot: the old task, the newest attempt (live, or failed and waiting for its backoff),
    // five finished ones kept.
    expect(records.length, describe).toBeLessThanOrEqual(2 * (1 + 1 + 5));
    const failed = records.filter((t) => t.status.state === 'failed');
    expect(failed.length, 'the failing v2 was retried').toBeGreaterThanOrEqual(2);
    // Retried with the restart backoff (0.5 s, then 1 s), not in a tight loop.
    for (const slot of [1, 2]) {
      const created = failed.filter((t) => t.metadata.slot === slot).map((t) => Date.parse(t.metadata.createdAt!)).sort((a, b) => a - b);
      for (let i = 1; i < created.length; i++) expect(created[i]! - created[i - 1]!, describe).toBeGreaterThanOrEqual(500);
    }
    // Attempts keep failing and being retried: an instant may catch one still being torn down
    // (its namespace, mounts and lease go a moment after it exits). Bounded means the count comes
    // back within the old tasks plus one attempt per slot, not that no instant exceeds it.
    const bound = { netns: baseline.netns + 2, mounts: baseline.mounts + 2, leases: baseline.leases + 2 };
    let after = { netns: 0, mounts: 0, leases: 0 };
    await eventually(
      'namespaces, mounts and leases back within the old tasks and one attempt per slot',
      async () => {
        after = { netns: await netns(), mounts: await mounts(), leases: await leases() };
        return after.netns <= bound.netns && after.mounts <= bound.mounts && after.leases <= bound.leases ? true : undefined;
      },
      15_000,
    ).catch(() => undefined);
    for (const k of ['netns', 'mounts', 'leases'] as const) expect(after[k], k).toBeLessThanOrEqual(bound[k]);
    const del = await cluster.cli.run(['delete', 'service', 'sf']);
    expect(del.code, del.stderr).toBe(0);
    await cluster.cli.tasksGone('sf');
  });

  it('kill -9 of berth up halfway through a slow rollout: after the restart it completes, no slot updated twice', async () => {
    const before = new Set((await tasksOf('web')).map((t) => t.metadata.name));
    const v5 = { ...v2, command: serve('v5'), update: { monitor: '1s', delay: '3s' } };
    const path = join(cluster.workDir, 'web-v5.yaml');
    await writeFile(path, serviceManifest(v5));
    const r = await cluster.cli.run(['apply', '-f', path]);
    expect(r.code, r.stderr).toBe(0);
    await eventually('two slots updated', async () => ((await serviceOf('web')).status.rollout?.updated ?? 0) >= 2 || undefined, 60_000);
    await cluster.up.kill();
    await cluster.launch();
    const done = await cluster.cli.run(['rollout', 'status', 'web', '--timeout', '120s']);
    expect(done.code, `${done.stdout}\n${done.stderr}`).toBe(0);
    expect(await versions('web')).toEqual(['v5', 'v5', 'v5', 'v5']);
    const fresh = (await tasksOf('web')).filter((t) => !before.has(t.metadata.name));
    const perSlot = new Map<number, number>();
    for (const t of fresh) perSlot.set(t.metadata.slot, (perSlot.get(t.metadata.slot) ?? 0) + 1);
    expect([...perSlot.entries()].sort((a, b) => a[0] - b[0])).toEqual([
      [1, 1],
      [2, 1],
      [3, 1],
      [4, 1],
    ]);
  });

  it('deleting the service leaves nothing of any attempt behind', async () => {
    const live = (await runningOf('web')).map((t) => t.metadata.name);
    const watch = await cluster.cli.watchEvents(['--service', 'web']);
    const r = await cluster.cli.run(['delete', 'service', 'web']);
    expect(r.code, r.stderr).toBe(0);
    await cluster.cli.tasksGone('web');
    // The delete, then each of its tasks stopping, as `berth events -w` printed them.
    await watch.until('the last task stopped', () => live.every((id) => watch.events.some((e) => e.object === id && e.reason === 'Stopped')));
    const deletedAt = watch.events.findIndex((e) => e.kind === 'service' && e.reason === 'Deleted');
    expect(deletedAt, watch.summary().join('\n')).toBeGreaterThanOrEqual(0);
    for (const id of live) expect(watch.events.findIndex((e) => e.object === id && e.reason === 'Stopped')).toBeGreaterThan(deletedAt);
    expect(await watch.stop()).toBe(0);
  });
});

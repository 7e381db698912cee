import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { EventWatch } from '../support/event-watch';
import { requireTools } from '../../support/prereq';
import { eventually } from '../support/berth-cli';
import type { ServiceJson, ServiceSketch, TaskJson } from '../support/cluster';
import { LabCluster } from '../support/lab-cluster';
import { readings, Sampler } from '../support/sampler';
import { TERMINAL_STATES } from '../support/task-set';

/**
 * Placement on four hosts (network namespaces, one `berth agent` each; the fourth joins later):
 * a global service that follows its constraint as nodes join and are relabelled, a short agent
 * stop that restarts nothing, spread by a label, `berth plan --without` and `berth node rm`.
 * The steps build on each other, in order, on one lab. Timings are printed, never asserted.
 */
const ready = requireTools(['etcd', 'runc', 'conmon', 'skopeo', 'umoci', 'busybox', 'curl', 'docker-registry', 'ip', 'nsenter', 'iptables', 'iptables-save', 'nft', 'unshare'], {
  root: true,
});

const SERVE = ['sh', '-c', 'mkdir -p /www && echo $HOSTNAME > /www/index.html && exec httpd -f -p 8080 -h /www'];
const WITHIN_MS = 60_000;
const STEP_MS = 240_000;
const log = (line: string) => console.log(`[scheduling] ${line}`);

describe.runIf(ready)('placement on four hosts: global services, spread by label, plan --without, node rm', () => {
  let cluster: LabCluster | undefined;
  const lab = (): LabCluster => {
    if (!cluster) throw new Error('the lab did not start');
    return cluster;
  };
  const name = (i: number) => lab().nodes[i]!.name;
  const sketch = (s: Omit<ServiceSketch, 'image'>): ServiceSketch => ({ image: lab().image, command: SERVE, memory: '16Mi', stopGracePeriod: '1s', ...s });
  const daemon = () => sketch({ name: 'daemon', mode: 'global', placement: { constraints: ['node.labels.zone == a'] } });

  /** Node name → ids of the service's tasks running there (meant to run and reported running). */
  async function runningByNode(service: string): Promise<Map<string, string[]>> {
    const out = new Map<string, string[]>();
    for (const t of await lab().cli.running(service)) out.set(t.status.node!, [...(out.get(t.status.node!) ?? []), t.metadata.name]);
    return out;
  }

  /**
   * Waits until the service runs exactly one task on each of `nodes` and no other task of it is
   * live — meant to run, or still running — and returns its running tasks. `wanted`: only count
   * the tasks meant to run (a task of a node whose agent is gone cannot report its stop).
   */
  async function globalOn(service: string, nodes: readonly number[], opts: { wanted?: boolean } = {}): Promise<TaskJson[]> {
    const want = nodes.map(name).sort();
    return eventually(
      `${service} running once on exactly ${want.join(', ')}`,
      async () => {
        const tasks = await lab().cli.tasks(service);
        const live = tasks.filter((t) => t.spec.desiredState === 'running' || (!opts.wanted && !TERMINAL_STATES.has(t.status.state)));
        const running = live.filter((t) => t.status.state === 'running' && t.spec.desiredState === 'running');
        const on = running.map((t) => t.status.node!).sort();
        return live.length === want.length && on.join() === want.join() ? running : undefined;
      },
      WITHIN_MS,
    );
  }

  async function label(node: number, ...changes: string[]): Promise<void> {
    const r = await lab().cli.run(['node', 'label', name(node), ...changes]);
    expect(r, r.stderr).toMatchObject({ code: 0 });
  }

  beforeAll(async () => {
    cluster = await LabCluster.start({
      hosts: 4,
      agentsAtStart: 3,
      agentLabels: { 3: { zone: 'a' } },
      nodeDownAfter: '5s',
      tempPrefix: 'berth-e2e-sched-',
      family: 'bsch',
      net: '10.250.0',
      subnetOctet: 251,
    });
  }, STEP_MS);

  afterAll(async () => {
    if (!cluster) return;
    for (const s of ['daemon', 'web', 'pinned']) await cluster.cli.run(['delete', 'service', s]);
    for (const s of ['daemon', 'web', 'pinned']) await cluster.cli.tasksGone(s).catch(() => undefined);
    await cluster.destroy();
    expect(await cluster.leftovers()).toEqual([]);
  }, STEP_MS);

  afterEach(() => EventWatch.stopAll());

  it(
    'a global service with a constraint matching 2 of 3 nodes runs 2 tasks, and counts 2 as desired',
    async () => {
      const c = lab();
      await label(0, 'zone=a');
      await label(1, 'zone=a');
      await label(2, 'zone=b');
      const applied = await c.cli.apply(daemon(), ['--wait', '--timeout', '60s']);
      expect(applied, applied.stderr).toMatchObject({ code: 0 });
      await globalOn('daemon', [0, 1]);
      expect((await c.cli.service('daemon'))?.status).toMatchObject({ desired: 2, running: 2 });
      const scaled = await c.cli.run(['scale', 'daemon=3']);
      expect(scaled.code).toBe(2);
      expect(scaled.stderr).toMatch(/daemon" is global: it runs one task on every eligible node and cannot be scaled/);
    },
    STEP_MS,
  );

  it(
    'a matching fourth node joins: the global service follows it; relabelled out of the constraint, a node loses its task, and the operator\'s label outlives an agent restart',
    async () => {
      const c = lab();
      const before = await globalOn('daemon', [0, 1]);
      const joinedAt = Date.now();
      await c.startAgent(3);
      await c.cli.readyNodes(4, 120_000);
      const after = await globalOn('daemon', [0, 1, 3]);
      log(`a 4th node (agent label zone=a) joins → its daemon task runs ${((Date.now() - joinedAt) / 1000).toFixed(1)} s`);
      // The tasks already running were left alone.
      for (const t of before) expect(after.map((x) => x.metadata.name)).toContain(t.metadata.name);

      const watch = await c.cli.watchEvents(['--node', name(1)]);
      await label(1, 'zone=b');
      await globalOn('daemon', [0, 3]);
      await watch.until(`node/${name(1)} Labeled`, (e) => e.kind === 'node' && e.reason === 'Labeled' && e.message.includes('zone=b'));
      await watch.until(`daemon's task on ${name(1)} Stopped`, (e) => e.kind === 'task' && e.object.startsWith('daemon.') && e.reason === 'Stopped');

      // The agent reports no label; the operator's zone=b stays over its reconnect.
      await c.killAgent(1);
      await c.startAgent(1);
      await c.cli.readyNodes(4, 120_000);
      await sleep(3_000);
      expect((await c.cli.nodes()).find((n) => n.metadata.name === name(1))?.metadata.labels).toEqual({ zone: 'b' });
      await globalOn('daemon', [0, 3]);
    },
    STEP_MS,
  );

  it(
    "an agent stopped for 3 s (below the 5 s down threshold) keeps its global task: same id, same pid, nothing new",
    async () => {
      const c = lab();
      const before = await globalOn('daemon', [0, 3]);
      const records = (await c.cli.tasks('daemon')).map((t) => t.metadata.name).sort();
      const mine = before.find((t) => t.status.node === name(0))!;
      const ids = Sampler.start(async () => (await c.api<TaskJson[]>('/api/v1/tasks?service=daemon')).map((t) => t.metadata.name));
      try {
        c.stopAgent(0, 'SIGSTOP');
        await sleep(3_000);
        c.stopAgent(0, 'SIGCONT');
        await sleep(8_000);
      } finally {
        await ids.stop();
      }
      const seen = new Set(readings(ids.samples).flatMap((s) => s.value));
      const known = new Set((await c.cli.tasks('daemon')).map((t) => t.metadata.name));
      expect([...seen].filter((id) => !known.has(id)), 'tasks created and gone meanwhile').toEqual([]);
      const after = await globalOn('daemon', [0, 3]);
      expect(after.find((t) => t.status.node === name(0))).toMatchObject({ metadata: { name: mine.metadata.name }, status: { pid: mine.status.pid } });
      expect((await c.cli.tasks('daemon')).map((t) => t.metadata.name).sort(), 'the task records, before and after').toEqual(records);
    },
    STEP_MS,
  );

  it(
    'spreadBy node.labels.zone puts 6 replicas 3/3 across two zones of 3 nodes and 1',
    async () => {
      const c = lab();
      await label(1, 'zone=a'); // zones: a = n0, n1, n3; b = n2
      await globalOn('daemon', [0, 1, 3]);
      const applied = await c.cli.apply(sketch({ name: 'web', replicas: 6, placement: { spreadBy: 'node.labels.zone' } }), ['--wait', '--timeout', '90s']);
      expect(applied, applied.stderr).toMatchObject({ code: 0 });
      const byNode = await runningByNode('web');
      const zoneB = byNode.get(name(2))?.length ?? 0;
      const zoneA = [0, 1, 3].reduce((n, i) => n + (byNode.get(name(i))?.length ?? 0), 0);
      log(`web by node: ${[...byNode].map(([n, ids]) => `${n}=${ids.length}`).join(' ')}`);
      expect({ a: zoneA, b: zoneB }).toEqual({ a: 3, b: 3 });
      expect((await c.cli.service('web'))?.spec).toMatchObject({ placement: { spreadBy: 'node.labels.zone' } });
    },
    STEP_MS,
  );

  it(
    'plan --without a node a service cannot do without: exit 3 naming it and why; -o json says the same; nothing changes',
    async () => {
      const c = lab();
      const applied = await c.cli.apply(sketch({ name: 'pinned', replicas: 1, placement: { constraints: [`node.name == ${name(2)}`] } }), ['--wait', '--timeout', '60s']);
      expect(applied, applied.stderr).toMatchObject({ code: 0 });
      const snapshot = async () => ({
        tasks: (await c.api<TaskJson[]>('/api/v1/tasks')).map((t) => `${t.metadata.name} ${t.spec.desiredState} ${t.status.state} ${t.status.node ?? '-'}`).sort(),
        services: (await c.api<ServiceJson[]>('/api/v1/services')).map((s) => `${s.metadata.name} ${s.metadata.resourceVersion}`),
        lastEvent: (JSON.parse((await c.cli.run(['events', '-o', 'json'])).stdout) as { items: { id: string }[] }).items.at(-1)?.id,
      });
      const before = await snapshot();

      const plan = await c.cli.run(['plan', '--without', name(2)]);
      log(`plan --without ${name(2)}:\n${plan.stdout}`);
      expect(plan.code).toBe(3);
      expect(plan.stdout).toMatch(new RegExp(`^pinned\\.1\\.\\S+\\s+pinned\\s+${name(2)}\\s+not fit: 3 nodes: constraint "node\\.name == ${name(2)}" not met$`, 'm'));
      expect(plan.stdout.trim().split('\n').at(-1)).toMatch(new RegExp(`^without ${name(2)}: 1 task would not fit \\(pinned\\); 3 tasks would move$`));
      const json = await c.cli.run(['plan', '--without', name(2), '-o', 'json']);
      expect(json.code).toBe(3);
      const parsed = JSON.parse(json.stdout) as { fits: boolean; tasks: { service: string; outcome: string; to?: string }[] };
      expect(parsed.fits).toBe(false);
      expect(parsed.tasks.filter((t) => t.service === 'web').every((t) => t.outcome === 'moves' && t.to !== name(2))).toBe(true);
      expect((await c.cli.run(['plan', '--without', name(3)])).code).toBe(0);

      expect(await snapshot()).toEqual(before);
    },
    STEP_MS,
  );

  it(
    'node rm: refused while the node is ready; once it is down it goes, its global task with it, and its replicated tasks run elsewhere',
    async () => {
      const c = lab();
      const refused = await c.cli.run(['node', 'rm', name(3)]);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(new RegExp(`node ${name(3)} is ready`));
      const webOn3 = (await runningByNode('web')).get(name(3)) ?? [];
      const watch = await c.cli.watchEvents(['--node', name(3)]);

      await c.killAgent(3);
      await eventually(`${name(3)} down`, async () => ((await c.cli.nodes()).find((n) => n.metadata.name === name(3))?.status.state === 'down' ? true : undefined), WITHIN_MS);
      const removed = await c.cli.run(['node', 'rm', name(3)]);
      expect(removed, removed.stderr).toMatchObject({ code: 0 });
      expect(removed.stdout).toMatch(new RegExp(`^node/${name(3)} removed`));
      await watch.until(`node/${name(3)} Removed`, (e) => e.kind === 'node' && e.reason === 'Removed');
      expect((await c.cli.nodes()).map((n) => n.metadata.name)).not.toContain(name(3));

      await globalOn('daemon', [0, 1], { wanted: true });
      await eventually(
        'web 6/6 with none on the removed node',
        async () => {
          const running = await c.cli.running('web');
          return running.length === 6 && running.every((t) => t.status.node !== name(3)) ? true : undefined;
        },
        WITHIN_MS,
      );
      for (const id of webOn3) expect((await c.cli.tasks('web')).find((t) => t.metadata.name === id)?.status.state).toBe('orphaned');
      expect((await c.cli.service('daemon'))?.status).toMatchObject({ desired: 2, running: 2 });

      // Its agent comes back: removing the node revoked its certificate, so it is refused ...
      await c.startAgent(3);
      await eventually(`${name(3)}'s agent to be refused`, async () => (/refused this node's certificate/.test(c.agentOutput(3)) ? true : undefined), WITHIN_MS);
      expect((await c.cli.nodes()).map((n) => n.metadata.name)).not.toContain(name(3));
      // ... until it joins again with a token: a new node, whose old containers stop; the global service follows it again.
      await c.rejoinAgent(3);
      await c.cli.readyNodes(4, 120_000);
      await globalOn('daemon', [0, 1, 3]);
      await eventually(`${name(3)}'s old containers stopped`, async () => {
        const live = await c.runcContainers(3);
        return webOn3.every((id) => !live.includes(id)) ? true : undefined;
      }, WITHIN_MS);
    },
    STEP_MS,
  );
});

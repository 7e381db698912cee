import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { memoryLimitOf } from '../../support/node-host';
import { requireTools } from '../../support/prereq';
import { eventually, freePort, isAlive } from '../support/berth-cli';
import type { ServiceSketch, TaskJson } from '../support/cluster';
import type { HostGuard } from '../support/host-guard';
import { taskTraces } from '../support/node-traces';
import { captureUpHost, closeAndCheckHost, UpCluster } from '../support/up-cluster';

const ready = requireTools(['etcd', 'runc', 'conmon', 'skopeo', 'umoci', 'busybox', 'ip', 'iptables', 'iptables-save', 'nft', 'unshare'], { root: true });

const MEMORY = 64 * 1024 * 1024;
// Each replica serves its own hostname (the task id), so a reply proves which task answered.
const SERVE_HOSTNAME = ['sh', '-c', 'mkdir -p /www && echo $HOSTNAME > /www/index.html && echo "serving $HOSTNAME" && exec httpd -f -p 8080 -h /www'];

async function httpBody(url: string): Promise<string | undefined> {
  const res = await fetch(url, { signal: AbortSignal.timeout(5000) }).catch(() => undefined);
  return res?.ok ? (await res.text()).trim() : undefined;
}

describe.runIf(ready)('berth up runs real containers (runc, conmon, CNI, overlayfs)', () => {
  let cluster: UpCluster;
  let guard: HostGuard;
  let web: ServiceSketch;
  let edge: ServiceSketch;
  let hostPort: number;

  const running = async (service: string) => cluster.remember(await cluster.cli.running(service));
  const pidsById = (tasks: TaskJson[]) => Object.fromEntries(tasks.map((t) => [t.metadata.name, t.status.pid]));

  beforeAll(async () => {
    // `berth up` names its node after the host; the CNI network is `berth-<node>`.
    guard = captureUpHost();
    cluster = await UpCluster.start('berth-e2e-up-');
    hostPort = await freePort();
    web = { name: 'web', image: cluster.image, replicas: 3, command: SERVE_HOSTNAME, memory: '64Mi' };
    edge = { name: 'edge', image: cluster.image, command: SERVE_HOSTNAME, memory: '32Mi', ports: [{ containerPort: 8080, hostPort }], stopGracePeriod: '2s' };
  });

  afterAll(() => closeAndCheckHost(cluster, guard));

  it('apply --wait returns once 3 replicas run, each with a pid and its own address', async () => {
    const r = await cluster.cli.apply(web, ['--wait']);
    expect(r.code, r.stderr).toBe(0);
    const tasks = await running('web');
    expect(tasks).toHaveLength(3);
    for (const t of tasks) {
      expect(t.status.pid, JSON.stringify(t)).toBeGreaterThan(1);
      expect(isAlive(t.status.pid!)).toBe(true);
      expect(t.status.ip).toMatch(/^10\.211\.\d+\.\d+$/);
    }
    expect(new Set(tasks.map((t) => t.status.ip)).size).toBe(3);
  });

  it('every replica answers on its own address with its own hostname', async () => {
    for (const t of await running('web')) {
      const body = await eventually(`http://${t.status.ip}:8080/`, () => httpBody(`http://${t.status.ip}:8080/`));
      expect(body).toBe(t.metadata.name);
    }
  });

  it('a hostPort publishes the task on the host', async () => {
    const r = await cluster.cli.apply(edge, ['--wait']);
    expect(r.code, r.stderr).toBe(0);
    const [task] = await running('edge');
    const body = await eventually(`http://127.0.0.1:${hostPort}/`, () => httpBody(`http://127.0.0.1:${hostPort}/`));
    expect(body).toBe(task!.metadata.name);
  });

  it('an update of a service with a hostPort hands the port over: the new task waits for the old one, nothing is rejected', async () => {
    const [old] = await running('edge');
    // Another command (a new template), serving the same page: its own task id.
    const v2 = { ...edge, command: ['sh', '-c', 'mkdir -p /www && echo $HOSTNAME > /www/index.html && echo "v2 serving $HOSTNAME" && exec httpd -f -p 8080 -h /www'] };
    const appliedAt = Date.now();
    const r = await cluster.cli.apply(v2, ['--wait']);
    expect(r.code, r.stderr).toBe(0);
    const [now] = await running('edge');
    expect(now!.metadata.name).not.toBe(old!.metadata.name);
    const body = await eventually(`http://127.0.0.1:${hostPort}/ to serve the new task`, async () => {
      const b = await httpBody(`http://127.0.0.1:${hostPort}/`);
      return b === now!.metadata.name ? b : undefined;
    });
    console.log(`[up] hostPort update: apply → the new task answers on the port ${((Date.now() - appliedAt) / 1000).toFixed(1)} s (the old task's stop grace: 2 s)`);
    expect(body).toBe(now!.metadata.name);
    const edgeTasks = cluster.remember(await cluster.cli.tasks('edge'));
    expect(edgeTasks.filter((t) => t.status.state === 'rejected').map((t) => `${t.metadata.name}: ${t.status.message}`)).toEqual([]);
  });

  it("the memory limit is in each task's cgroup", async () => {
    for (const t of await running('web')) expect(await memoryLimitOf(t.status.pid!)).toBe(MEMORY);
  });

  it('scale --wait goes to 5 replicas and back to 1 without restarting the replicas it keeps', async () => {
    const three = await running('web');
    const up = await cluster.cli.run(['scale', 'web=5', '--wait']);
    expect(up.code, up.stderr).toBe(0);
    const five = await running('web');
    expect(five).toHaveLength(5);
    const kept3 = five.filter((t) => three.some((o) => o.metadata.name === t.metadata.name && o.status.pid === t.status.pid));
    expect(kept3.map((t) => t.metadata.name).sort(), 'the 3 replicas that ran before scaling up').toEqual(three.map((t) => t.metadata.name).sort());
    const down = await cluster.cli.run(['scale', 'web=1', '--wait']);
    expect(down.code, down.stderr).toBe(0);
    const kept = await running('web');
    expect(kept).toHaveLength(1);
    expect(five.map((t) => t.metadata.name), 'the replica kept after scaling down').toContain(kept[0]!.metadata.name);
    const stopped = five.filter((t) => t.metadata.name !== kept[0]!.metadata.name);
    expect(stopped).toHaveLength(4);
    await eventually('the 4 stopped replicas to exit', async () => (stopped.every((t) => !isAlive(t.status.pid!)) ? true : undefined));
  });

  it('berth logs shows what the task printed', async () => {
    const [task] = await running('web');
    const r = await cluster.cli.run(['logs', task!.metadata.name]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`serving ${task!.metadata.name}`);
  });

  it('after kill -9 of berth up and a restart, the same tasks run with the same pids', async () => {
    const before = [...(await running('web')), ...(await running('edge'))];
    const all = new Set([...(await cluster.cli.tasks('web')), ...(await cluster.cli.tasks('edge'))].map((t) => t.metadata.name));
    expect(before).toHaveLength(2);

    expect(await cluster.up.stop('SIGKILL')).toEqual({ code: null, signal: 'SIGKILL' });
    // The containers do not depend on the berth process: conmon holds them.
    for (const t of before) expect(isAlive(t.status.pid!), t.metadata.name).toBe(true);
    expect(await httpBody(`http://${before[0]!.status.ip}:8080/`)).toBe(before[0]!.metadata.name);

    await cluster.launch();
    await cluster.cli.readyNodes(1);
    const after = await eventually('both services to report their tasks running again', async () => {
      const tasks = [...(await running('web')), ...(await running('edge'))];
      return tasks.length === 2 ? tasks : undefined;
    });
    expect(pidsById(after)).toEqual(pidsById(before));
    for (const t of after) expect(isAlive(t.status.pid!)).toBe(true);
    const now = [...(await cluster.cli.tasks('web')), ...(await cluster.cli.tasks('edge'))].map((t) => t.metadata.name);
    expect(now.filter((id) => !all.has(id)), 'tasks created after the restart').toEqual([]);
    const body = await eventually(`http://127.0.0.1:${hostPort}/`, () => httpBody(`http://127.0.0.1:${hostPort}/`));
    expect(body).toBe(after.find((t) => t.metadata.service === 'edge')!.metadata.name);
  });

  it('delete leaves no container, mount, namespace or cgroup of its tasks', async () => {
    for (const name of ['web', 'edge']) {
      cluster.remember(await cluster.cli.tasks(name));
      const r = await cluster.cli.run(['delete', 'service', name]);
      expect(r).toEqual({ code: 0, stdout: `service/${name} deleted\n`, stderr: '' });
    }
    await cluster.cli.tasksGone('web');
    await cluster.cli.tasksGone('edge');
    const traces = () => taskTraces(cluster.scope, [...cluster.seen]);
    await eventually('the node to remove every trace of the tasks', async () => ((await traces()).length === 0 ? true : undefined)).catch(() => undefined);
    expect(await traces()).toEqual([]);
  });

  it('SIGTERM stops berth up with exit 0', async () => {
    expect(await cluster.up.stop('SIGTERM')).toEqual({ code: 0, signal: null });
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireTools } from '../../support/prereq';
import { eventually, isAlive } from '../support/berth-cli';
import type { ServiceSketch, TaskJson } from '../support/cluster';
import type { HostGuard } from '../support/host-guard';
import { taskTraces } from '../support/node-traces';
import { captureUpHost, closeAndCheckHost, UpCluster } from '../support/up-cluster';

const ready = requireTools(['etcd', 'runc', 'conmon', 'skopeo', 'umoci', 'busybox', 'ip', 'iptables', 'iptables-save', 'nft', 'unshare'], { root: true });

interface BadCase {
  readonly name: string;
  readonly sketch: (image: string, registry: string) => ServiceSketch;
  /** What the failed task's status.message must say. */
  readonly message: RegExp;
}

const cases: BadCase[] = [
  {
    name: 'an image that does not exist',
    sketch: (_, registry) => ({ name: 'no-image', image: `${registry}/no-such-image:1`, command: ['sleep', '3600'] }),
    message: /no-such-image/,
  },
  {
    name: 'a command that is not in the image',
    sketch: (image) => ({ name: 'no-command', image, command: ['no-such-program'] }),
    message: /no-such-program/,
  },
  {
    // tail keeps a "line" of /dev/zero in memory: 64 MiB in a 4 MiB cgroup.
    name: 'a memory limit too small for the program',
    sketch: (image) => ({ name: 'tiny-memory', image, memory: '4Mi', command: ['sh', '-c', 'head -c 67108864 /dev/zero | tail -n 1 >/dev/null'] }),
    message: /memory|oom|killed|137/i,
  },
];

describe.runIf(ready)('bad input ends as failed tasks with a reason; other services keep running', () => {
  let cluster: UpCluster;
  let guard: HostGuard;
  let steady: TaskJson;

  beforeAll(async () => {
    guard = captureUpHost();
    cluster = await UpCluster.start('berth-e2e-bad-');
    const r = await cluster.cli.apply({ name: 'steady', image: cluster.image, command: ['sleep', '3600'] }, ['--wait']);
    expect(r.code, r.stderr).toBe(0);
    [steady] = cluster.remember(await cluster.cli.running('steady'));
    expect(steady?.status.pid).toBeGreaterThan(1);
  });

  afterAll(() => closeAndCheckHost(cluster, guard));

  it.each(cases)('$name: apply --wait fails and the task says why', async ({ sketch, message }) => {
    const service = sketch(cluster.image, cluster.registryAddress);
    const r = await cluster.cli.apply(service, ['--wait', '--timeout', '2m']);
    expect(r.code, r.stderr).not.toBe(0);
    expect(r.stderr).toMatch(message);
    const failed = await eventually(`a failed task of ${service.name}`, async () => {
      const tasks = cluster.remember(await cluster.cli.tasks(service.name));
      return tasks.find((t) => t.status.state === 'failed');
    });
    expect(failed.status.message, JSON.stringify(failed)).toMatch(message);
  });

  it('the service that was already running kept running, untouched', async () => {
    const [now] = await cluster.cli.running('steady');
    expect(now?.metadata.name).toBe(steady.metadata.name);
    expect(now?.status.pid).toBe(steady.status.pid);
    expect(isAlive(steady.status.pid!)).toBe(true);
  });

  it('deleting every service leaves nothing of the failed attempts behind', async () => {
    for (const name of ['steady', ...cases.map((c) => c.sketch(cluster.image, cluster.registryAddress).name)]) {
      cluster.remember(await cluster.cli.tasks(name));
      const r = await cluster.cli.run(['delete', 'service', name]);
      expect(r.code, r.stderr).toBe(0);
      await cluster.cli.tasksGone(name);
    }
    const traces = () => taskTraces(cluster.scope, [...cluster.seen]);
    await eventually('the node to remove every trace of the tasks', async () => ((await traces()).length === 0 ? true : undefined)).catch(() => undefined);
    expect(await traces()).toEqual([]);
    expect(await cluster.up.stop('SIGTERM')).toEqual({ code: 0, signal: null });
  });
});

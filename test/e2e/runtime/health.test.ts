import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireTools } from '../../support/prereq';
import { eventually } from '../support/berth-cli';
import type { ServiceSketch, TaskJson } from '../support/cluster';
import type { HostGuard } from '../support/host-guard';
import { taskTraces } from '../support/node-traces';
import { captureUpHost, closeAndCheckHost, UpCluster } from '../support/up-cluster';

const ready = requireTools(['etcd', 'runc', 'conmon', 'skopeo', 'umoci', 'busybox', 'ip', 'iptables', 'iptables-save', 'nft', 'unshare'], { root: true });

const SERVE = ['sh', '-c', 'mkdir -p /www && echo ok > /www/index.html && exec httpd -f -p 8080 -h /www'];

describe.runIf(ready)('health checks: healthy tasks count as running, unhealthy ones are replaced', () => {
  let cluster: UpCluster;
  let guard: HostGuard;
  let served: ServiceSketch;
  let sick: ServiceSketch;

  const tasks = async (service: string): Promise<TaskJson[]> => cluster.remember(await cluster.cli.tasks(service));
  const runningCount = async (service: string): Promise<number> => {
    const r = await cluster.cli.run(['get', 'services', service, '-o', 'json']);
    expect(r.code, r.stderr).toBe(0);
    return (JSON.parse(r.stdout) as { status: { running: number } }).status.running;
  };

  beforeAll(async () => {
    guard = captureUpHost();
    cluster = await UpCluster.start('berth-e2e-health-');
    // busybox as PID 1 ignores SIGTERM: a short grace keeps each stop quick.
    served = {
      name: 'served',
      image: cluster.image,
      command: SERVE,
      stopGracePeriod: '1s',
      healthCheck: { exec: ['wget', '-qO-', 'http://127.0.0.1:8080/'], interval: '1s', timeout: '2s', retries: 3 },
    };
    sick = { name: 'sick', image: cluster.image, command: ['sleep', '3600'], stopGracePeriod: '1s', healthCheck: { exec: ['false'], interval: '1s', timeout: '1s', retries: 2 } };
  });

  afterAll(() => closeAndCheckHost(cluster, guard));

  it('a passing check makes the task healthy; apply --wait returns once it is', async () => {
    const r = await cluster.cli.apply(served, ['--wait', '--timeout', '2m']);
    expect(r.code, r.stderr).toBe(0);
    const [task] = (await tasks('served')).filter((t) => t.spec.desiredState === 'running');
    expect(task?.status).toMatchObject({ state: 'running', health: 'healthy' });
    expect(await runningCount('served')).toBe(1);

    const wide = await cluster.cli.run(['get', 'tasks', '--service', 'served', '-o', 'wide']);
    expect(wide.code, wide.stderr).toBe(0);
    const [header, row] = wide.stdout.trimEnd().split('\n').map((l) => l.split(/\s{2,}/));
    expect(row?.[header!.indexOf('HEALTH')]).toBe('healthy');
    const described = await cluster.cli.run(['describe', 'task', task!.metadata.name]);
    expect(described.stdout).toMatch(/^Health:\s+healthy$/m);
  });

  it('a failing check stops the task, records it failed with the reason, and a new task takes the slot', async () => {
    const r = await cluster.cli.apply(sick, ['--wait', '--timeout', '2m']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/health check failed 2 times in a row: exited with code 1/);

    const failed = await eventually('a task of sick failed by its health check', async () => (await tasks('sick')).find((t) => t.status.state === 'failed'));
    expect(failed.status).toMatchObject({ health: 'unhealthy', message: 'health check failed 2 times in a row: exited with code 1' });
    expect(failed.status.pid).toBeGreaterThan(1);

    const replacement = await eventually('a replacement in the same slot', async () =>
      (await tasks('sick')).find((t) => t.metadata.slot === failed.metadata.slot && t.metadata.name !== failed.metadata.name),
    );
    expect(replacement.metadata.name).not.toBe(failed.metadata.name);
    // Never healthy, so never counted as running, while the healthy service still is.
    expect(await runningCount('sick')).toBe(0);
    expect(await runningCount('served')).toBe(1);
  });

  it('deleting the services leaves nothing of their tasks behind', async () => {
    for (const name of ['served', 'sick']) {
      await tasks(name);
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

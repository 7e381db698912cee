import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireTools } from '../../support/prereq';
import { eventually } from '../support/berth-cli';
import type { ServiceSketch, TaskJson } from '../support/cluster';
import type { HostGuard } from '../support/host-guard';
import { taskTraces } from '../support/node-traces';
import { captureUpHost, closeAndCheckHost, UpCluster } from '../support/up-cluster';

const ready = requireTools(['etcd', 'runc', 'conmon', 'skopeo', 'umoci', 'busybox', 'ip', 'iptables', 'iptables-save', 'nft', 'unshare'], { root: true });

const SERVE = ['sh', '-c', 'mkdir -p /www && echo ok > /www/index.html && exec httpd -f -p 8080 -h /www'];
/** Serves /healthz on 8080; after `seconds`, deletes it, so the check gets 404 from then on. */
const serveHealthzFor = (seconds: number) => ['sh', '-c', `mkdir -p /www && echo ok > /www/healthz && httpd -p 8080 -h /www && sleep ${seconds} && rm /www/healthz && exec sleep 3600`];

describe.runIf(ready)('health checks: healthy tasks count as running, unhealthy ones are replaced', () => {
  let cluster: UpCluster;
  let guard: HostGuard;
  let served: ServiceSketch;
  let sick: ServiceSketch;
  let web: ServiceSketch;
  let fading: ServiceSketch;
  let slow: ServiceSketch;

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
    // tcp and http checks run from the node (the agent) against the task's address.
    web = { name: 'web', image: cluster.image, command: serveHealthzFor(3600), stopGracePeriod: '1s', healthCheck: { http: { port: 8080, path: '/healthz' }, interval: '1s', timeout: '1s', retries: 3 } };
    fading = { ...web, name: 'fading', command: serveHealthzFor(15), healthCheck: { http: { port: 8080, path: '/healthz' }, interval: '1s', timeout: '1s', retries: 2 } };
    // The port opens 3s after the start; the start period keeps the failures before that from counting.
    slow = {
      name: 'slow',
      image: cluster.image,
      command: ['sh', '-c', 'sleep 3 && exec httpd -f -p 6379'],
      stopGracePeriod: '1s',
      healthCheck: { tcp: { port: 6379 }, interval: '1s', timeout: '1s', retries: 3, startPeriod: '30s' },
    };
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

  it('an http check that passes makes the task healthy; apply --wait returns once it is', async () => {
    const r = await cluster.cli.apply(web, ['--wait', '--timeout', '2m']);
    expect(r.code, r.stderr).toBe(0);
    const [task] = (await tasks('web')).filter((t) => t.spec.desiredState === 'running');
    expect(task?.status).toMatchObject({ state: 'running', health: 'healthy', ip: expect.stringMatching(/^\d+\.\d+\.\d+\.\d+$/) });
    expect(await runningCount('web')).toBe(1);
    const described = await cluster.cli.run(['describe', 'service', 'web']);
    expect(described.stdout).toMatch(/^ {2}Health Check:\s+http GET :8080\/healthz interval=1s timeout=1s retries=3 start-period=0s$/m);
  });

  it('a task whose http endpoint starts failing turns unhealthy, is recorded failed with the status, and is replaced', async () => {
    const r = await cluster.cli.apply(fading, ['--wait', '--timeout', '2m']);
    expect(r.code, r.stderr).toBe(0);
    const [first] = (await tasks('fading')).filter((t) => t.spec.desiredState === 'running');
    expect(first?.status).toMatchObject({ state: 'running', health: 'healthy' });

    const failed = await eventually('the task of fading to fail its http check', async () => (await tasks('fading')).find((t) => t.metadata.name === first!.metadata.name && t.status.state === 'failed'));
    expect(failed.status).toMatchObject({ health: 'unhealthy', message: `health check failed 2 times in a row: HTTP 404 from http://${first!.status.ip}:8080/healthz` });
    const replacement = await eventually('a replacement in the same slot', async () =>
      (await tasks('fading')).find((t) => t.metadata.slot === failed.metadata.slot && t.metadata.name !== failed.metadata.name),
    );
    expect(replacement.metadata.name).not.toBe(failed.metadata.name);
  });

  it('a tcp check gates apply --wait until the port answers', async () => {
    const r = await cluster.cli.apply(slow, ['--wait', '--timeout', '2m']);
    expect(r.code, r.stderr).toBe(0);
    // Healthy when apply returned: the check passed, so the port answered before that.
    const [task] = (await tasks('slow')).filter((t) => t.spec.desiredState === 'running');
    expect(task?.status).toMatchObject({ state: 'running', health: 'healthy' });
    expect(await runningCount('slow')).toBe(1);
  });

  it('deleting the services leaves nothing of their tasks behind', async () => {
    for (const name of ['served', 'sick', 'web', 'fading', 'slow']) {
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

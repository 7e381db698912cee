import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildBusyboxLayout } from '../../support/node-host';
import { requireTools } from '../../support/prereq';
import { eventually, freePort } from '../support/berth-cli';
import type { ServiceSketch, TaskJson } from '../support/cluster';
import { LabCluster } from '../support/lab-cluster';

/**
 * Images pinned at apply, end to end on two hosts: `<registry>/busybox:1` is pushed with a
 * /marker file saying "one", a service runs it, then the same tag is pushed again saying "two".
 * Tasks started after that — on the other host too — still run "one", until `rollout restart`
 * moves the service to "two". Each task's marker is read through its init's /proc/PID/root.
 */
const ready = requireTools(['etcd', 'runc', 'conmon', 'skopeo', 'umoci', 'busybox', 'docker-registry', 'ip', 'nsenter', 'iptables', 'iptables-save', 'nft', 'unshare'], {
  root: true,
});

const exec = promisify(execFile);
const log = (line: string) => console.log(`[images] ${line}`);

describe.runIf(ready)('images pinned to digests at apply, on two hosts', () => {
  let cluster: LabCluster | undefined;
  let layout = '';
  const lab = (): LabCluster => {
    if (!cluster) throw new Error('the lab did not start');
    return cluster;
  };
  const push = (tag: string) => exec('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', `oci:${layout}:${tag}`, `docker://${lab().image}`]);
  const registryDigest = async () => (await exec('skopeo', ['inspect', '--tls-verify=false', '--format', '{{.Digest}}', `docker://${lab().image}`])).stdout.trim();
  const imageDigest = async (name: string) => ((await lab().cli.service(name))?.status as { imageDigest?: string } | undefined)?.imageDigest;
  /** The running tasks of `service` with the node each runs on and the marker its root filesystem holds. */
  const markers = async (service: string) => {
    const tasks = await lab().cli.running(service);
    return Promise.all(tasks.map(async (t: TaskJson) => ({ node: t.status.node, marker: (await readFile(`/proc/${t.status.pid}/root/marker`, 'utf8')).trim() })));
  };

  beforeAll(async () => {
    cluster = await LabCluster.start({ hosts: 2, tempPrefix: 'berth-e2e-images-', family: 'bimg', net: '10.248.0', subnetOctet: 249 });
    layout = join(cluster.root, 'marked');
    await buildBusyboxLayout(layout);
    for (const tag of ['one', 'two']) {
      await writeFile(join(cluster.root, `marker-${tag}`), `${tag}\n`);
      await exec('umoci', ['insert', '--image', `${layout}:1`, '--tag', tag, join(cluster.root, `marker-${tag}`), '/marker']);
    }
    await push('one');
  });

  afterAll(async () => {
    if (!cluster) return;
    await cluster.destroy();
    expect(await cluster.leftovers()).toEqual([]);
  });

  it('new tasks on any host run the pinned digest after the tag moved; rollout restart moves every task to the new one', async () => {
    const c = lab();
    // One task per host at most, so the second replica starts on the host that has never pulled.
    const web: ServiceSketch = { name: 'web', image: c.image, replicas: 1, command: ['sleep', '3600'], stopGracePeriod: '1s', placement: { maxPerNode: 1 }, update: { monitor: '1s' } };
    const applied = await c.cli.apply(web, ['--wait', '--timeout', '60s']);
    expect(applied.code, applied.stderr).toBe(0);
    expect(applied.stderr).not.toMatch(/warning/);
    const first = await registryDigest();
    expect(await imageDigest('web')).toBe(first);
    expect((await markers('web')).map((m) => m.marker)).toEqual(['one']);

    await push('two');
    const second = await registryDigest();
    expect(second).not.toBe(first);
    const again = await c.cli.apply(web);
    expect(again.stdout.trim()).toBe('service/web unchanged');
    expect(await imageDigest('web')).toBe(first);

    const scaled = await c.cli.run(['scale', 'web=2', '--wait', '--timeout', '60s']);
    expect(scaled.code, scaled.stderr).toBe(0);
    const spread = await markers('web');
    expect(new Set(spread.map((m) => m.node)).size).toBe(2);
    expect(spread.map((m) => m.marker)).toEqual(['one', 'one']);

    const started = Date.now();
    const restarted = await c.cli.run(['rollout', 'restart', 'web', '--wait', '--timeout', '90s']);
    expect(restarted.code, `${restarted.stdout}\n${restarted.stderr}`).toBe(0);
    log(`rollout restart of 2 tasks onto the new digest took ${((Date.now() - started) / 1000).toFixed(1)} s`);
    expect(await imageDigest('web')).toBe(second);
    expect((await markers('web')).map((m) => m.marker)).toEqual(['two', 'two']);
    const described = await c.cli.run(['describe', 'service', 'web']);
    expect(described.stdout).toMatch(new RegExp(`^ {2}Image:\\s+${c.image.replace(/\./g, '\\.')}\\n {2}Digest:\\s+${second} \\(pinned at apply\\)$`, 'm'));
    const history = await c.cli.run(['rollout', 'history', 'web', '-o', 'json']);
    expect((JSON.parse(history.stdout) as { imageDigest?: string }[]).map((r) => r.imageDigest)).toEqual([first, second]);
  });

  it('an image the control plane cannot resolve: apply warns on stderr and exits 0; the task fails saying what it could not pull', async () => {
    const c = lab();
    const image = `127.0.0.1:${await freePort()}/busybox:1`;
    const bad: ServiceSketch = { name: 'bad', image, replicas: 1, command: ['sleep', '3600'], restartPolicy: { condition: 'none' } };
    const r = await c.cli.apply(bad);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe('service/bad created');
    expect(r.stderr).toMatch(new RegExp(`^warning: bad: could not resolve ${image.replace(/\./g, '\\.')} to a digest \\(.+\\); every node pulls the tag itself, so nodes may run different images$`, 'm'));
    const failed = await eventually('the task of bad to fail', async () => (await c.cli.tasks('bad')).find((t) => t.status.state === 'failed'), 60_000);
    expect(failed.status.message).toMatch(new RegExp(`^pulling image "${image.replace(/\./g, '\\.')}" failed: .*connection refused`));
    const described = await c.cli.run(['describe', 'task', failed.metadata.name]);
    expect(described.stdout).toContain(`pulling image "${image}" failed`);
    expect((await c.cli.run(['describe', 'service', 'bad'])).stdout).toMatch(/^ {2}Digest:\s+not pinned \(could not resolve at apply\)$/m);
    expect((await c.cli.run(['delete', 'service', 'bad'])).code).toBe(0);
    await c.cli.tasksGone('bad', 60_000);
  });
});

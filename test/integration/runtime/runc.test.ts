import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { mkdtemp, readdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CniNetwork, ImageStore, RuncDriver, type TaskConfig, type TaskHandle } from '@berth/runtime';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runDriverConformance } from '../../../libs/runtime/src/conformance';
import { freePort, httpGetEventually } from '../../support/net';
import { requireTools } from '../../support/prereq';
import { restoreHost, snapshotHost, type HostSnapshot } from '../network/host-state';
import { buildBusyboxLayout, cgroupDirsNamed, cleanUpNode, memoryLimitOf, mountsUnder, processesInNamespaceOf } from './host';

const ready = requireTools(['runc', 'conmon', 'umoci', 'skopeo', 'busybox', 'ip', 'iptables'], { root: true });

describe.runIf(ready)('runc driver', () => {
  const suffix = randomBytes(3).toString('hex');
  const node = `rt${suffix}`;
  let dataDir = '';
  let runcRoot = '';
  let image = '';
  let network: CniNetwork;
  let before: HostSnapshot;

  beforeAll(async () => {
    // The CNI plugins change host-wide settings as a side effect (ip_forward, empty nft tables).
    before = snapshotHost('/run/netns');
    dataDir = await mkdtemp(join(tmpdir(), 'berth-runc-'));
    runcRoot = join(dataDir, 'runc');
    image = await buildBusyboxLayout(join(dataDir, 'busybox-layout'));
    // Own bridge and subnet (clear of Docker's and of the network suite's), own IPAM dir.
    network = new CniNetwork({ nodeName: node, bridge: `brt${suffix}`, subnet: `10.213.${parseInt(suffix.slice(0, 2), 16)}.0/24`, ipamDataDir: join(dataDir, 'ipam') });
  });

  afterAll(async () => {
    if (dataDir) await cleanUpNode({ runcRoot, node, dataDir, network });
    if (before) restoreHost(before, '/run/netns');
  });

  // A new driver (and image store) per call, sharing only on-disk state: what an agent restart looks like.
  const makeDriver = () => new RuncDriver({ node, dataDir, images: new ImageStore({ dir: join(dataDir, 'images') }), network, runcRoot });

  const config = (service: string, command: string[], extra: Partial<TaskConfig> = {}): TaskConfig => ({
    taskId: `${service}.1.${randomBytes(3).toString('hex')}`,
    service,
    runtime: 'container',
    image,
    command,
    env: {},
    resources: {},
    ports: [],
    volumes: [],
    stopGracePeriodMs: 1000,
    ...extra,
  });

  runDriverConformance('runc', makeDriver, () => ({
    image,
    memoryLimitOf,
    processesOf: processesInNamespaceOf,
    leftovers: async (h: TaskHandle) => [
      ...(await mountsUnder(h.dir)).map((m) => `mount ${m}`),
      ...(existsSync(join(runcRoot, h.taskId)) ? [`runc state ${h.taskId}`] : []),
      ...(await cgroupDirsNamed(`/berth/${node}/${h.taskId}`)).map((d) => `cgroup ${d}`),
      ...(existsSync(h.dir) ? [`task dir ${h.dir}`] : []),
      ...(h.network && existsSync(h.network.netnsPath) ? [`netns ${h.network.netnsPath}`] : []),
    ],
  }));

  it('writes CRI-format log lines and runs the task in its CNI network namespace', async () => {
    const d = makeDriver();
    const h = await d.prepare(config('crilog', ['sh', '-c', 'echo hello world; readlink /proc/self/ns/net; ip -4 -o addr show eth0']));
    try {
      await d.start(h);
      expect(await d.wait(h)).toBe(0);
      const lines = (await readFile(h.logPath, 'utf8')).trimEnd().split('\n');
      expect(lines[0]).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+[+-]\d\d:\d\d stdout F hello world$/);
      expect(lines[1]).toMatch(new RegExp(` stdout F net:\\[${statSync(h.network!.netnsPath).ino}\\]$`));
      expect(h.network?.ip).toBeDefined();
      expect(lines[2]).toContain(` inet ${h.network!.ip!.split('/')[0]}/`);
    } finally {
      await d.destroy(h);
    }
  });

  it('publishes a host port to the task', async () => {
    const hostPort = await freePort();
    const d = makeDriver();
    const h = await d.prepare(
      config('web', ['sh', '-c', 'mkdir -p /www && echo served-by-task > /www/index.html && exec httpd -f -p 8080 -h /www'], {
        ports: [{ containerPort: 8080, hostPort, protocol: 'tcp' }],
      }),
    );
    try {
      await d.start(h);
      expect(await httpGetEventually(`http://127.0.0.1:${hostPort}/`)).toBe('served-by-task\n');
    } finally {
      await d.destroy(h);
    }
  });

  it('caps the log file of a chatty task and keeps its latest lines', async () => {
    const d = new RuncDriver({ node, dataDir, images: new ImageStore({ dir: join(dataDir, 'images') }), network, runcRoot, logSizeMax: 16 * 1024 });
    const h = await d.prepare(config('chatty', ['sh', '-c', 'i=0; while [ $i -lt 2000 ]; do i=$((i+1)); echo "line $i of a task that talks a lot"; done']));
    try {
      await d.start(h);
      expect(await d.wait(h)).toBe(0);
      expect(statSync(h.logPath).size).toBeLessThanOrEqual(16 * 1024);
      const tail: string[] = [];
      for await (const l of d.logs(h, { tail: 1 })) tail.push(l.text);
      expect(tail).toEqual(['line 2000 of a task that talks a lot']);
    } finally {
      await d.destroy(h);
    }
  });

  it('a timed-out exec leaves no runc process and no pid file behind', async () => {
    const d = makeDriver();
    const h = await d.prepare(config('hung', ['sh', '-c', 'echo ready; exec sleep 1000']));
    try {
      await d.start(h);
      expect(await d.exec(h, ['sleep', '300'], { timeoutMs: 300 })).toEqual({ timedOut: true, output: '' });
      const runcs = (await hostCommandLines()).filter((c) => c.includes('runc') && c.includes(` exec `) && c.includes(h.taskId));
      expect(runcs).toEqual([]);
      expect(readdirSync(h.dir).filter((f) => f.startsWith('exec-'))).toEqual([]);
    } finally {
      await d.destroy(h);
    }
  });

  it('a restarted agent ends the commands its predecessor exec’d and nobody reads any more', async () => {
    const before = makeDriver();
    const h = await before.prepare(config('orphan', ['sh', '-c', 'echo ready; exec sleep 1000']));
    try {
      await before.start(h);
      const status = await before.inspect(h);
      expect(status.state).toBe('running');
      const left = await before.execStream(h, ['sleep', '1001'], { tty: false });
      left.stdout.resume();
      left.stderr.resume();
      expect(readdirSync(h.dir).filter((f) => f.startsWith('exec-'))).toHaveLength(1);
      // A new driver over the same state, as after `kill -9` of the agent: recover re-adopts the task only.
      expect(await makeDriver().recover(h)).toBe('attached');
      expect(await left.exited).toBe(137);
      expect(readdirSync(h.dir).filter((f) => f.startsWith('exec-'))).toEqual([]);
      expect(await before.inspect(h)).toEqual(status);
    } finally {
      await before.destroy(h);
    }
  });

  it('a failing prepare says why and leaves nothing behind', async () => {
    const d = makeDriver();
    const broken = config('broken', ['no-such-program']);
    const taskDir = join(dataDir, 'tasks', broken.taskId);
    await expect(d.prepare(broken)).rejects.toThrow(new RegExp(`^task ${broken.taskId}: prepare failed: runc create: .*no-such-program.*not found`));
    expect(existsSync(taskDir)).toBe(false);
    expect(existsSync(`/run/netns/berth-${broken.taskId}`)).toBe(false);
    await expect(d.prepare({ ...broken, image: 'oci:/nonexistent/layout:1' })).rejects.toThrow(/pulling image "oci:\/nonexistent\/layout:1" failed/);
    expect(existsSync(taskDir)).toBe(false);
  });
});

async function hostCommandLines(): Promise<string[]> {
  const pids = (await readdir('/proc')).filter((e) => /^\d+$/.test(e));
  const lines = await Promise.all(pids.map((p) => readFile(`/proc/${p}/cmdline`, 'utf8').catch(() => '')));
  return lines.filter(Boolean).map((l) => l.split('\0').join(' '));
}

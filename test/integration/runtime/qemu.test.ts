import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CniNetwork, ImageStore, QemuDriver, QEMU_MEMORY_OVERHEAD_MIB, TaskSpecError, vmMemoryLimitBytes, type TaskConfig, type TaskHandle } from '@berth/runtime';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collect, runDriverConformance } from '../../../libs/runtime/src/conformance';
import { resolveKernel } from '../../../libs/runtime/src/qemu';
import { freePort, httpGetEventually } from '../../support/net';
import { requireTools } from '../../support/prereq';
import { restoreHost, snapshotHost, type HostSnapshot } from '../network/host-state';
import { buildBusyboxLayout, cgroupDirsNamed, cleanUpNode, memoryLimitOf, mountsUnder, qemusUnder } from './host';

const ready = requireTools(['qemu-system-x86_64', 'umoci', 'skopeo', 'busybox', 'mount', 'nsenter', 'ip', 'iptables'], { root: true });
const MiB = 1024 * 1024;

describe.runIf(ready)('qemu driver', () => {
  const suffix = randomBytes(3).toString('hex');
  const node = `vm${suffix}`;
  let dataDir = '';
  let image = '';
  let network: CniNetwork;
  let before: HostSnapshot;

  beforeAll(async () => {
    // The CNI plugins change host-wide settings as a side effect (ip_forward, empty nft tables).
    before = snapshotHost('/run/netns');
    dataDir = await mkdtemp(join(tmpdir(), 'berth-vm-'));
    image = await buildBusyboxLayout(join(dataDir, 'busybox-layout'));
    // Own bridge and subnet (clear of Docker's, the runc suite's and the network suite's), own IPAM dir.
    network = new CniNetwork({ nodeName: node, bridge: `bvm${suffix}`, subnet: `10.214.${parseInt(suffix.slice(0, 2), 16)}.0/24`, ipamDataDir: join(dataDir, 'ipam') });
  });

  afterAll(async () => {
    if (!dataDir) return;
    await cleanUpNode({ runcRoot: join(dataDir, 'no-runc'), node, dataDir, network });
    if (before) restoreHost(before, '/run/netns');
  });

  // A new driver (and image store) per call, sharing only on-disk state: what an agent restart looks like.
  const makeDriver = () => new QemuDriver({ node, dataDir, images: new ImageStore({ dir: join(dataDir, 'images') }), network });

  const config = (service: string, command: string[], extra: Partial<TaskConfig> = {}): TaskConfig => ({
    taskId: `${service}.1.${randomBytes(3).toString('hex')}`,
    service,
    runtime: 'vm',
    image,
    command,
    env: {},
    resources: {},
    ports: [],
    volumes: [],
    stopGracePeriodMs: 1000,
    ...extra,
  });

  runDriverConformance(
    'qemu',
    makeDriver,
    () => ({
      image,
      memoryLimitOf,
      processesOf: processesInCgroupOf,
      leftovers: async (h: TaskHandle) => [
        ...(await mountsUnder(h.dir)).map((m) => `mount ${m}`),
        ...(await cgroupDirsNamed(`/berth/${node}/${h.taskId}`)).map((d) => `cgroup ${d}`),
        ...(await qemusUnder(h.dir)).map((q) => `qemu pid ${q.pid}`),
        ...(existsSync(h.dir) ? [`task dir ${h.dir}`] : []),
        ...(h.network && existsSync(h.network.netnsPath) ? [`netns ${h.network.netnsPath}`] : []),
      ],
    }),
    // Exec inside a guest comes later; a VM's cgroup holds guest RAM (at least 128 MiB) + QEMU's overhead.
    { runtime: 'vm', memoryLimitFor: vmMemoryLimitBytes },
  );

  it('the guest owns the task address: a published host port reaches a server in the VM', async () => {
    const hostPort = await freePort();
    const d = makeDriver();
    const script = 'mkdir -p /www && echo served-by-vm > /www/index.html && ip -4 -o addr show eth0 && exec httpd -f -p 8080 -h /www';
    const h = await d.prepare(config('web', ['sh', '-c', script], { ports: [{ containerPort: 8080, hostPort, protocol: 'tcp' }] }));
    try {
      await d.start(h);
      expect(await httpGetEventually(`http://127.0.0.1:${hostPort}/`, 200)).toBe('served-by-vm\n');
      const ip = h.network!.ip!;
      expect(await httpGetEventually(`http://${ip}:8080/`, 200)).toBe('served-by-vm\n');
      const lines: string[] = [];
      for await (const l of d.logs(h)) lines.push(l.text);
      expect(lines[0]).toContain(` inet ${ip}/`);
      const stats = await d.stats(h);
      expect(stats.network?.receiveBytes).toBeGreaterThan(0);
      expect(stats.network?.transmitBytes).toBeGreaterThan(0);
    } finally {
      await d.destroy(h);
    }
    expect(existsSync(h.network!.netnsPath)).toBe(false);
  });

  it('runs the workload in a guest kernel of its own', async () => {
    const d = makeDriver();
    const h = await d.prepare(config('bootid', ['cat', '/proc/sys/kernel/random/boot_id']));
    try {
      await d.start(h);
      expect(await d.wait(h)).toBe(0);
      const lines: string[] = [];
      for await (const l of d.logs(h)) lines.push(l.text);
      const host = (await readFile('/proc/sys/kernel/random/boot_id', 'utf8')).trim();
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/^[0-9a-f-]{36}$/);
      expect(lines[0]).not.toBe(host);
    } finally {
      await d.destroy(h);
    }
  });

  it('a new driver instance re-attaches to the running VM: same QEMU process', async () => {
    const first = makeDriver();
    const h = await first.prepare(config('adopt', ['sh', '-c', 'echo ready; exec sleep 1000']));
    try {
      await first.start(h);
      const before = await first.inspect(h);
      expect(before.state).toBe('running');
      const pid = (before as { pid: number }).pid;
      expect((await qemusUnder(h.dir)).map((q) => q.pid)).toEqual([pid]);
      const second = makeDriver();
      expect(await second.recover(JSON.parse(JSON.stringify(h)) as TaskHandle)).toBe('attached');
      expect(await second.inspect(h)).toEqual({ state: 'running', pid });
      await second.stop(h, { graceMs: 20_000 });
      // sleep has no SIGTERM handler: the guest's workload died of it and the guest said so.
      expect(await second.inspect(h)).toEqual({ state: 'exited', exitCode: 143 });
    } finally {
      await first.destroy(h);
    }
  });

  it('limits the QEMU process to guest RAM + overhead and the task CPU quota', async () => {
    const d = makeDriver();
    const h = await d.prepare(config('limits', ['sh', '-c', 'exec sleep 1000'], { resources: { memoryBytes: 200 * MiB, cpuMillis: 500 } }));
    try {
      await d.start(h);
      const status = await d.inspect(h);
      if (status.state !== 'running') throw new Error(`expected running, got ${JSON.stringify(status)}`);
      const limit = (200 + QEMU_MEMORY_OVERHEAD_MIB) * MiB;
      expect(await memoryLimitOf(status.pid)).toBe(limit);
      const stats = await d.stats(h);
      expect(stats.memoryLimitBytes).toBe(limit);
      expect(stats.cpuQuotaMicros).toBe(stats.cpuPeriodMicros! / 2);
      expect(stats.memoryUsageBytes).toBeGreaterThan(0);
      expect(stats.oomKills).toBe(0);
    } finally {
      await d.destroy(h);
    }
  });

  it('destroy leaves no QEMU process, mount or file of the task behind', async () => {
    const d = makeDriver();
    const h = await d.prepare(config('gone', ['sh', '-c', 'exec sleep 1000'], { volumes: [{ name: 'scratch', mountPath: '/scratch' }] }));
    await d.start(h);
    expect(await qemusUnder(h.dir)).toHaveLength(1);
    await d.destroy(h);
    expect(await qemusUnder(h.dir)).toEqual([]);
    expect(await mountsUnder(h.dir)).toEqual([]);
    expect(existsSync(h.dir)).toBe(false);
    expect(await cgroupDirsNamed(`/berth/${node}/${h.taskId}`)).toEqual([]);
    await d.destroy(h);
  });

  it('shows the guest console as a log: the kernel boot lines, tail, and follow until the VM is gone', async () => {
    const d = makeDriver();
    const h = await d.prepare(config('console', ['sh', '-c', 'echo done']));
    try {
      await d.start(h);
      // Follow ends by itself once the guest has powered off.
      const followed = await collect(d.consoleLogs(h, { follow: true }));
      expect(await d.inspect(h)).toEqual({ state: 'exited', exitCode: 0 });
      expect(followed.some((l) => /Linux version/.test(l.text))).toBe(true);
      expect(followed.every((l) => l.stream === 'stdout' && !Number.isNaN(Date.parse(l.time)) && !l.text.includes('\r'))).toBe(true);
      const all = await collect(d.consoleLogs(h));
      expect(all.map((l) => l.text)).toEqual(followed.map((l) => l.text));
      expect((await collect(d.consoleLogs(h, { tail: 2 }))).map((l) => l.text)).toEqual(all.slice(-2).map((l) => l.text));
      // The task's own output stays in logs().
      expect((await collect(d.logs(h))).map((l) => l.text)).toEqual(['done']);
    } finally {
      await d.destroy(h);
    }
  });

  it('gives the guest the vCPUs and the kernel the task asks for', async () => {
    const kernel = (await resolveKernel()).path;
    const d = makeDriver();
    const h = await d.prepare(config('smp', ['sh', '-c', 'grep -c ^processor /proc/cpuinfo; uname -r'], { vm: { vcpus: 2, kernel } }));
    try {
      await d.start(h);
      expect(await d.wait(h)).toBe(0);
      const [cpus, release] = (await collect(d.logs(h))).map((l) => l.text);
      expect(cpus).toBe('2');
      expect(kernel).toContain(release);
      // How the VM was launched stays on disk for whoever adopts it: no probe ran here, so TCG.
      expect(JSON.parse(await readFile(join(h.dir, 'vm.json'), 'utf8'))).toMatchObject({ kernel, vcpus: 2, accel: 'tcg' });
    } finally {
      await d.destroy(h);
    }
  });

  it('refuses a vm.kernel it cannot boot with resolveKernel\'s reason, leaving nothing behind', async () => {
    const task = config('badkernel', ['true'], { vm: { vcpus: 1, kernel: '/nonexistent/vmlinuz-9.9.9' } });
    const err = await makeDriver()
      .prepare(task)
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TaskSpecError);
    expect((err as Error).message).toBe(`task ${task.taskId}: vm.kernel /nonexistent/vmlinuz-9.9.9 does not exist or is not a file`);
    expect(existsSync(join(dataDir, 'tasks', task.taskId))).toBe(false);
    expect(await cgroupDirsNamed(`/berth/${node}/${task.taskId}`)).toEqual([]);
    const relative = config('badkernel', ['true'], { vm: { vcpus: 1, kernel: 'vmlinuz' } });
    await expect(makeDriver().prepare(relative)).rejects.toThrow(/vm\.kernel must be an absolute path/);
    const noCpu = config('badkernel', ['true'], { vm: { vcpus: 0 } });
    await expect(makeDriver().prepare(noCpu)).rejects.toThrow(/vm\.vcpus must be an integer ≥ 1 \(got 0\)/);
  });

  it('refuses containers, and published ports without a node network, and says why', async () => {
    await expect(makeDriver().prepare(config('box', ['true'], { runtime: 'container' }))).rejects.toThrow(/runs VMs \(runtime vm\), not runtime container/);
    const offline = new QemuDriver({ node, dataDir, images: new ImageStore({ dir: join(dataDir, 'images') }) });
    const web = config('web', ['true'], { ports: [{ containerPort: 80, protocol: 'tcp' }] });
    await expect(offline.prepare(web)).rejects.toThrow(/publishing ports needs a node network/);
    expect(existsSync(join(dataDir, 'tasks', web.taskId))).toBe(false);
  });
});

/** QEMU processes whose command line names a path below `dir`. */
/** Command lines of the host processes in the memory cgroup of `pid` (a VM's guest processes are not among them). */
async function processesInCgroupOf(pid: number): Promise<string[]> {
  const lines = (await readFile(`/proc/${pid}/cgroup`, 'utf8')).split('\n');
  const v1 = lines.find((l) => l.split(':')[1]?.split(',').includes('memory'));
  const procs = v1
    ? join('/sys/fs/cgroup/memory', v1.split(':')[2]!, 'cgroup.procs')
    : join('/sys/fs/cgroup', lines.find((l) => l.startsWith('0::'))!.slice(3), 'cgroup.procs');
  const pids = (await readFile(procs, 'utf8')).split('\n').filter(Boolean);
  const cmdlines = await Promise.all(pids.map((p) => readFile(`/proc/${p}/cmdline`, 'utf8').catch(() => '')));
  return cmdlines.filter(Boolean).map((c) => c.split('\0').filter(Boolean).join(' '));
}

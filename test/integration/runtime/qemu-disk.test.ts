import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CniNetwork, ImageStore, QemuDriver, type TaskConfig, type TaskHandle } from '@berth/runtime';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collect } from '../../../libs/runtime/src/conformance';
import { resolveKernel } from '../../../libs/runtime/src/qemu';
import { BOOTABLE_DISK_TOOLS, busyboxRoot, diskOsInit, makeBootableDisk } from '../../support/bootable-disk';
import { freePort, httpGetEventually } from '../../support/net';
import { requireTools } from '../../support/prereq';
import { restoreHost, snapshotHost, type HostSnapshot } from '../network/host-state';
import { cgroupDirsNamed, cleanUpNode, dhcpServersUnder, mountsUnder, qemusUnder } from './host';

const exec = promisify(execFile);
const ready = requireTools(['qemu-system-x86_64', 'qemu-img', 'busybox', 'nsenter', 'ip', 'iptables', ...BOOTABLE_DISK_TOOLS], { root: true });

describe.runIf(ready)('qemu driver: vm.disk', () => {
  const suffix = randomBytes(3).toString('hex');
  const node = `vd${suffix}`;
  let dataDir = '';
  let kernel = '';
  let network: CniNetwork;
  let before: HostSnapshot;
  const disks: Record<'raw' | 'qcow2', string> = { raw: '', qcow2: '' };
  /** A partitioned image that boots through its own bootloader (syslinux) and asks for its address by DHCP. */
  let bootable = '';

  beforeAll(async () => {
    before = snapshotHost('/run/netns');
    dataDir = await mkdtemp(join(tmpdir(), 'berth-vmdisk-'));
    const guestKernel = await resolveKernel();
    kernel = guestKernel.path;
    const tree = await busyboxRoot(join(dataDir, 'tree'), diskOsInit({ dhcp: false }));
    disks.raw = join(dataDir, 'root.raw');
    disks.qcow2 = join(dataDir, 'root.qcow2');
    await exec('mkfs.ext4', ['-q', '-F', '-d', tree, disks.raw, '32M']);
    await exec('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', disks.raw, disks.qcow2]);
    bootable = await makeBootableDisk(dataDir, guestKernel, diskOsInit({ dhcp: true }));
    network = new CniNetwork({ nodeName: node, bridge: `bvd${suffix}`, subnet: `10.215.${parseInt(suffix.slice(0, 2), 16)}.0/24`, ipamDataDir: join(dataDir, 'ipam') });
  }, 60_000);

  afterAll(async () => {
    if (!dataDir) return;
    await cleanUpNode({ runcRoot: join(dataDir, 'no-runc'), node, dataDir, network });
    if (before) restoreHost(before, '/run/netns');
  });

  const makeDriver = () => new QemuDriver({ node, dataDir, images: new ImageStore({ dir: join(dataDir, 'images') }), network, bootTimeoutMs: 120_000 });
  const config = (disk: string, extra: Partial<TaskConfig> = {}): TaskConfig => ({
    taskId: `disk.1.${randomBytes(3).toString('hex')}`,
    service: 'disk',
    runtime: 'vm',
    env: {},
    resources: { memoryBytes: 256 * 1024 * 1024 },
    ports: [],
    volumes: [],
    stopGracePeriodMs: 60_000,
    vm: { vcpus: 1, kernel, disk },
    ...extra,
  });
  const sha256 = async (path: string) => createHash('sha256').update(await readFile(path)).digest('hex');
  const leftovers = async (h: TaskHandle) => [
    ...(await mountsUnder(h.dir)).map((m) => `mount ${m}`),
    ...(await cgroupDirsNamed(`/berth/${node}/${h.taskId}`)).map((d) => `cgroup ${d}`),
    ...(await qemusUnder(h.dir)).map((q) => `qemu pid ${q.pid}`),
    ...(await dhcpServersUnder(h.dir)).map((q) => `dhcp server pid ${q.pid}`),
    ...(existsSync(h.dir) ? [`task dir ${h.dir}`] : []),
    ...(h.network && existsSync(h.network.netnsPath) ? [`netns ${h.network.netnsPath}`] : []),
  ];

  it.each(['raw', 'qcow2'] as const)(
    'boots a %s disk through an overlay, serves on its published port, stops through ACPI, leaves nothing behind',
    async (format) => {
      const base = disks[format];
      const baseSum = await sha256(base);
      const hostPort = await freePort();
      const d = makeDriver();
      const h = await d.prepare(config(base, { ports: [{ containerPort: 8080, hostPort, protocol: 'tcp' }] }));
      expect(JSON.parse(await readFile(join(h.dir, 'vm.json'), 'utf8'))).toMatchObject({ disk: join(h.dir, 'disk.qcow2') });
      const info = JSON.parse((await exec('qemu-img', ['info', '-U', '--output=json', join(h.dir, 'disk.qcow2')])).stdout) as { format: string; 'backing-filename': string; 'backing-filename-format': string };
      expect(info).toMatchObject({ format: 'qcow2', 'backing-filename': base, 'backing-filename-format': format });
      const booted = Date.now();
      try {
        await d.start(h);
        const page = await httpGetEventually(`http://127.0.0.1:${hostPort}/`, 500).catch(async (e: unknown) => {
          throw new Error(`${String(e)}; console:\n${(await collect(d.logs(h))).map((l) => l.text).join('\n')}`);
        });
        const reachableMs = Date.now() - booted;
        const hostBoot = (await readFile('/proc/sys/kernel/random/boot_id', 'utf8')).trim();
        expect(page).toMatch(/^disk-vm [0-9a-f-]{36}\n$/);
        expect(page).not.toContain(hostBoot);
        expect(await httpGetEventually(`http://${h.network!.ip!}:8080/`, 200)).toBe(page);
        await expect(d.exec(h, ['true'], { timeoutMs: 1000 })).rejects.toThrow(/not supported for a VM booted from vm.disk/);

        // Up until the power button: the console says it waits for it, and QEMU runs on.
        const waiting = async () => (await collect(d.logs(h))).some((l) => l.text.startsWith('disk-init: waiting for the power button'));
        for (let i = 0; i < 600 && !(await waiting()); i++) await new Promise((r) => setTimeout(r, 100));
        expect(await waiting()).toBe(true);
        expect((await d.inspect(h)).state).toBe('running');
        const stopAt = Date.now();
        await d.stop(h, { graceMs: 60_000 });
        const stopMs = Date.now() - stopAt;
        expect(await d.inspect(h)).toEqual({ state: 'exited', exitCode: 0 });
        expect(stopMs).toBeLessThan(60_000);
        const log = (await collect(d.logs(h))).map((l) => l.text);
        expect(log).toContain(`disk-init: serving boot ${page.trim().split(' ')[1]}`);
        expect(log).toContain('disk-init: power button pressed, powering off');
        console.log(`${format}: reachable ${reachableMs} ms after start, ACPI stop ${stopMs} ms`);
      } finally {
        await d.destroy(h);
      }
      expect(await leftovers(h)).toEqual([]);
      // The guest wrote /www to its root: into the overlay, never into the base image.
      expect(await sha256(base)).toBe(baseSum);
    },
    300_000,
  );

  it('a new driver instance re-attaches to a running disk VM; a stop whose grace period ends first kills it (137)', async () => {
    const h = await makeDriver().prepare(config(disks.qcow2));
    try {
      await makeDriver().start(h);
      const d = makeDriver();
      expect(await d.recover(h)).toBe('attached');
      expect((await d.inspect(h)).state).toBe('running');
      await expect(d.execStream(h, ['sh'], { tty: false })).rejects.toThrow(/not supported for a VM booted from vm.disk/);
      await d.stop(h, { graceMs: 0 });
      expect(await d.inspect(h)).toEqual({ state: 'exited', exitCode: 137 });
    } finally {
      await makeDriver().destroy(h);
    }
    expect(await leftovers(h)).toEqual([]);
  }, 120_000);

  it('boots a disk through its own bootloader as a PC: the guest gets the task address by DHCP, serves, stops through ACPI, leaves nothing behind', async () => {
    const baseSum = await sha256(bootable);
    const hostPort = await freePort();
    const d = makeDriver();
    const h = await d.prepare(config(bootable, { vm: { vcpus: 1, disk: bootable }, ports: [{ containerPort: 8080, hostPort, protocol: 'tcp' }] }));
    const launch = JSON.parse(await readFile(join(h.dir, 'vm.json'), 'utf8')) as Record<string, unknown>;
    expect(launch).toMatchObject({ disk: join(h.dir, 'disk.qcow2') });
    expect(launch).not.toHaveProperty('kernel');
    // The DHCP server runs from prepare on, in the task's namespace, before the guest asks.
    expect(await dhcpServersUnder(h.dir)).toHaveLength(1);
    // Another VM's DISCOVER reaches this server too (broadcasts cross the node's bridge): a client
    // with another MAC there gets no offer. udhcpc's script is `true`, so the host is left as it was.
    const foreign = await exec('busybox', ['udhcpc', '-i', `bvd${suffix}`, '-n', '-q', '-t', '2', '-T', '1', '-s', '/bin/true']).then(
      (r) => `got a lease: ${r.stdout}${r.stderr}`,
      (e: { stderr?: string }) => e.stderr ?? String(e),
    );
    expect(foreign).toMatch(/no lease, failing/);
    const booted = Date.now();
    try {
      await d.start(h);
      const consoleLines = async () => (await collect(d.logs(h))).map((l) => l.text);
      const page = await httpGetEventually(`http://127.0.0.1:${hostPort}/`, 500).catch(async (e: unknown) => {
        throw new Error(`${String(e)}; console:\n${(await consoleLines()).join('\n')}`);
      });
      const reachableMs = Date.now() - booted;
      expect(page).toMatch(/^disk-vm [0-9a-f-]{36}\n$/);
      expect(page).not.toContain((await readFile('/proc/sys/kernel/random/boot_id', 'utf8')).trim());
      expect(await httpGetEventually(`http://${h.network!.ip!}:8080/`, 200)).toBe(page);
      // The kernel arguments are the image's own (syslinux.cfg), none of berth's; the address came by DHCP.
      const log = await consoleLines();
      expect(log).toContain('image-initramfs: root /dev/vda2, kernel arguments: BOOT_IMAGE=/vmlinuz console=ttyS0 root=/dev/vda2 panic=-1 quiet initrd=/initrd.img');
      const prefix = h.network!.cniResult as { ips?: { address: string; gateway?: string }[] };
      const { address, gateway } = prefix.ips!.find((i) => i.address.startsWith(`${h.network!.ip!}/`))!;
      expect(log).toContain(`dhcp: eth0 has ${address} via ${gateway}, lease 4294967295 s`);

      const waiting = async () => (await consoleLines()).some((l) => l.startsWith('disk-init: waiting for the power button'));
      for (let i = 0; i < 600 && !(await waiting()); i++) await new Promise((r) => setTimeout(r, 100));
      expect(await waiting()).toBe(true);
      const stopAt = Date.now();
      await d.stop(h, { graceMs: 60_000 });
      const stopMs = Date.now() - stopAt;
      expect(await d.inspect(h)).toEqual({ state: 'exited', exitCode: 0 });
      expect(await consoleLines()).toContain('disk-init: power button pressed, powering off');
      console.log(`bootloader: reachable ${reachableMs} ms after start, ACPI stop ${stopMs} ms`);
    } finally {
      await d.destroy(h);
    }
    expect(await leftovers(h)).toEqual([]);
    expect(await sha256(bootable)).toBe(baseSum);
  }, 300_000);

  it('refuses vm.cmdline without vm.kernel and a disk that is no image, leaving nothing', async () => {
    const d = makeDriver();
    const cmdlineOnly = config(disks.qcow2, { vm: { vcpus: 1, disk: disks.qcow2, cmdline: 'quiet' } });
    await expect(d.prepare(cmdlineOnly)).rejects.toThrow(/vm.cmdline needs vm.kernel: a disk booted through its own bootloader/);
    const missing = config(join(dataDir, 'nope.qcow2'));
    await expect(d.prepare(missing)).rejects.toThrow(/vm.disk .*nope.qcow2 cannot be read as a disk image/);
    for (const t of [cmdlineOnly, missing]) expect(existsSync(join(dataDir, 'tasks', t.taskId))).toBe(false);
  });
});

import { spawn, type ChildProcess } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseCriRecord } from '../../../libs/runtime/src/logs/cri-log';
import {
  GUEST_PORTS,
  GUEST_SHARES,
  encodeGuestSpec,
  guestCommandLine,
  guestInitramfs,
  parseGuestStatus,
  resolveKernel,
  type GuestKernel,
  type GuestSpec,
  type GuestStatus,
} from '../../../libs/runtime/src/qemu';
import { requireTools } from '../../support/prereq';

// The guest boot kit on its own: the real kernel, the kit's initramfs and /init, QEMU started
// by hand (TCG, -M microvm) the way the qemu driver starts it. A boot to poweroff takes ~5.5 s
// on the idle 2-core host, ~8 s with both cores busy.
const ready = requireTools(['qemu-system-x86_64', 'busybox'], { root: true });
const BOOT_DEADLINE_MS = 60_000;

interface Guest {
  readonly qemu: ChildProcess;
  readonly dir: string;
  readonly statusPath: string;
  readonly logPath: string;
  readonly controlPath: string;
  readonly startedAt: number;
  readonly exited: Promise<number | null>;
  console(): string;
}

describe.runIf(ready)('qemu guest boot kit', () => {
  let suiteDir = '';
  let kernel: GuestKernel;
  let initrd = '';
  const guests: Guest[] = [];
  const sockets: Socket[] = [];

  beforeAll(async () => {
    suiteDir = await mkdtemp(join(tmpdir(), 'berth-qemu-boot-'));
    kernel = await resolveKernel();
    initrd = await guestInitramfs(kernel, join(suiteDir, 'cache'));
  });

  afterEach(async () => {
    for (const s of sockets.splice(0)) s.destroy();
    for (const g of guests.splice(0)) {
      if (g.qemu.exitCode === null && g.qemu.signalCode === null) g.qemu.kill('SIGKILL');
      await g.exited;
      await rm(g.dir, { recursive: true, force: true });
    }
  });

  afterAll(async () => {
    if (suiteDir) await rm(suiteDir, { recursive: true, force: true });
  });

  /** A root file system with busybox and the applets the workloads use. */
  async function rootfs(dir: string): Promise<string> {
    const root = join(dir, 'rootfs');
    await mkdir(join(root, 'bin'), { recursive: true });
    await copyFile('/usr/bin/busybox', join(root, 'bin/busybox'));
    for (const applet of ['sh', 'echo', 'cat', 'sleep', 'id', 'ip']) await symlink('busybox', join(root, 'bin', applet));
    return root;
  }

  async function boot(spec: GuestSpec | undefined, prepare?: (root: string) => Promise<void>, extraArgs: string[] = []): Promise<Guest> {
    const dir = await mkdtemp(join(suiteDir, 'guest-'));
    const root = await rootfs(dir);
    await prepare?.(root);
    const share = join(dir, 'share');
    await mkdir(share);
    if (spec) await writeFile(join(share, 'spec'), encodeGuestSpec(spec));
    const [statusPath, logPath, controlPath] = ['status', 'log', 'control.sock'].map((f) => join(dir, f)) as [string, string, string];
    const port = (id: string, name: string) => ['-device', `virtserialport,chardev=${id},name=${name}`];
    const args = [
      ...['-M', 'microvm,acpi=on', '-accel', 'tcg', '-m', '256', '-nodefaults', '-no-user-config', '-nographic'],
      ...['-kernel', kernel.path, '-initrd', initrd, '-append', guestCommandLine({ console: true }), '-serial', 'stdio', '-no-reboot'],
      ...['-fsdev', `local,id=fs0,path=${root},security_model=none`, '-device', `virtio-9p-device,fsdev=fs0,mount_tag=${GUEST_SHARES.rootfs}`],
      ...['-fsdev', `local,id=fs1,path=${share},security_model=none`, '-device', `virtio-9p-device,fsdev=fs1,mount_tag=${GUEST_SHARES.task}`],
      '-device', 'virtio-serial-device',
      ...['-chardev', `file,id=st,path=${statusPath}`, ...port('st', GUEST_PORTS.status)],
      ...['-chardev', `file,id=lg,path=${logPath}`, ...port('lg', GUEST_PORTS.log)],
      ...['-chardev', `socket,id=ct,path=${controlPath},server=on,wait=off`, ...port('ct', GUEST_PORTS.control)],
      ...extraArgs,
    ];
    const startedAt = Date.now();
    const qemu = spawn('qemu-system-x86_64', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    qemu.stdout.on('data', (b: Buffer) => (output += b.toString()));
    qemu.stderr.on('data', (b: Buffer) => (output += b.toString()));
    const exited = new Promise<number | null>((resolve) => {
      qemu.once('exit', (code) => resolve(code));
      qemu.once('error', (e) => {
        output += `\nspawn: ${e.message}`;
        resolve(null);
      });
    });
    const guest: Guest = { qemu, dir, statusPath, logPath, controlPath, startedAt, exited, console: () => output };
    guests.push(guest);
    return guest;
  }

  async function statuses(g: Guest): Promise<GuestStatus[]> {
    return parseGuestStatus(await readFile(g.statusPath, 'utf8').catch(() => ''));
  }

  /** Polls the status file until `done` holds; fails with the guest's console on timeout. */
  async function waitForStatus(g: Guest, done: (s: GuestStatus[]) => boolean): Promise<GuestStatus[]> {
    const deadline = Date.now() + BOOT_DEADLINE_MS;
    for (;;) {
      const s = await statuses(g);
      if (done(s)) return s;
      if (Date.now() > deadline) throw new Error(`guest status ${JSON.stringify(s)} after ${BOOT_DEADLINE_MS} ms; console:\n${g.console()}`);
      await sleep(50);
    }
  }

  /** QEMU's exit code, once it has exited by itself (the guest powered off). */
  async function qemuExit(g: Guest): Promise<number | null> {
    const stopTimer = new AbortController();
    const timeout = sleep(BOOT_DEADLINE_MS, 'timeout' as const, { signal: stopTimer.signal }).catch(() => 'cancelled' as const);
    try {
      const code = await Promise.race([g.exited, timeout]);
      if (code === 'timeout' || code === 'cancelled') throw new Error(`QEMU still running after ${BOOT_DEADLINE_MS} ms; console:\n${g.console()}`);
      return code;
    } finally {
      stopTimer.abort();
    }
  }

  async function logRecords(g: Guest) {
    const text = await readFile(g.logPath, 'utf8');
    return text.split('\n').filter(Boolean).map((l) => parseCriRecord(l) ?? { time: '', stream: 'bad', partial: false, text: l });
  }

  const baseSpec = (argv: string[], extra: Partial<GuestSpec> = {}): GuestSpec => ({
    argv,
    env: { PATH: '/bin' },
    workdir: '/',
    uid: 0,
    gid: 0,
    hostname: 'kit-test',
    ...extra,
  });

  it('runs a workload to its exit code, logging both streams as CRI lines, in a guest of its own', async () => {
    const g = await boot(baseSpec(['sh', '-c', 'echo to-stdout; echo to-stderr >&2; cat /proc/sys/kernel/random/boot_id; exit 3']));
    const s = await waitForStatus(g, (st) => st.some((x) => x.kind === 'exited' || x.kind === 'error'));
    const exitedAt = Date.now();
    expect(await qemuExit(g)).toBe(0);
    console.log(`boot kit: workload exited ${exitedAt - g.startedAt} ms after QEMU started; QEMU gone after ${Date.now() - g.startedAt} ms`);

    expect(s.map((x) => x.kind)).toEqual(['booted', 'running', 'exited']);
    expect(s[1]).toEqual({ kind: 'running', pid: expect.any(Number) });
    expect(s[2]).toEqual({ kind: 'exited', code: 3 });
    const records = await logRecords(g);
    for (const r of records) {
      expect(r.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/);
      // The guest's clock starts from the RTC (QEMU's is the host's time).
      expect(Math.abs(Date.parse(r.time) - exitedAt)).toBeLessThan(30_000);
    }
    expect(records.filter((r) => r.stream === 'stdout').map((r) => r.text)[0]).toBe('to-stdout');
    expect(records.filter((r) => r.stream === 'stderr').map((r) => r.text)).toEqual(['to-stderr']);
    const guestBootId = records.filter((r) => r.stream === 'stdout')[1]?.text;
    expect(guestBootId).toMatch(/^[0-9a-f-]{36}$/);
    expect(guestBootId).not.toBe((await readFile('/proc/sys/kernel/random/boot_id', 'utf8')).trim());
  });

  it('stops the workload with SIGTERM on "stop" from the control socket, then powers off', async () => {
    const g = await boot(baseSpec(['sh', '-c', "trap 'echo bye; exit 0' TERM; echo ready; while :; do sleep 1; done"]));
    await waitForStatus(g, (st) => st.some((x) => x.kind === 'running' || x.kind === 'error'));
    const runningAt = Date.now() - g.startedAt;
    const socket = connect(g.controlPath);
    sockets.push(socket);
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    socket.write('stop\n');
    const s = await waitForStatus(g, (st) => st.some((x) => x.kind === 'exited' || x.kind === 'error'));
    expect(await qemuExit(g)).toBe(0);
    console.log(`boot kit: running ${runningAt} ms after QEMU started; stopped and gone after ${Date.now() - g.startedAt} ms`);

    expect(s.map((x) => x.kind)).toEqual(['booted', 'running', 'exited']);
    expect(s[2]).toEqual({ kind: 'exited', code: 0 });
    const stdout = (await logRecords(g)).filter((r) => r.stream === 'stdout').map((r) => r.text);
    expect(stdout).toEqual(['ready', 'bye']);
  });

  it('drops to numeric ids, enters the workdir (made, symlinks followed in the image) with only the spec env, and gives the workload /proc /dev /tmp', async () => {
    const script = 'id -u; id -g; id -G; echo "$PWD|$FOO|$HOME|$(cat /proc/sys/kernel/hostname)"; cat /proc/self/mounts; echo x > /tmp/probe && echo tmp-writable';
    const spec = baseSpec(['sh', '-c', script], { env: { PATH: '/bin', FOO: "it's here" }, workdir: '/srv/app', uid: 1234, gid: 567, hostname: 'web-7' });
    // An absolute symlink in the image must resolve inside the image, not in the initramfs.
    const g = await boot(spec, (root) => symlink('/data', join(root, 'srv')));
    const s = await waitForStatus(g, (st) => st.some((x) => x.kind === 'exited' || x.kind === 'error'));
    expect(await qemuExit(g)).toBe(0);
    expect(s.at(-1)).toEqual({ kind: 'exited', code: 0 });
    const stdout = (await logRecords(g)).filter((r) => r.stream === 'stdout').map((r) => r.text);
    expect(stdout.slice(0, 4)).toEqual(['1234', '567', '567', "/data/app|it's here||web-7"]);
    const mounts = stdout.filter((l) => / (proc|sysfs|devtmpfs|devpts|tmpfs|9p) /.test(l)).map((l) => l.split(' ').slice(1, 3).join(' '));
    expect(mounts).toEqual(expect.arrayContaining(['/ 9p', '/proc proc', '/sys sysfs', '/dev devtmpfs', '/dev/pts devpts', '/dev/shm tmpfs', '/tmp tmpfs']));
    expect(mounts.some((m) => m.startsWith('/berth') || m.startsWith('/newroot'))).toBe(false);
    expect(stdout).toContain('tmp-writable');
  });

  it('configures the NIC with the given MAC: address, default route, lo up', async () => {
    // QEMU's user-mode network stands in for the driver's tap device; the guest sets it up statically.
    const mac = '52:54:00:12:34:56';
    const spec = baseSpec(['sh', '-c', 'ip -4 -o addr show; ip route show'], { network: { address: '10.0.2.15/24', gateway: '10.0.2.2', mac } });
    const g = await boot(spec, undefined, ['-netdev', 'user,id=n0', '-device', `virtio-net-device,netdev=n0,mac=${mac}`]);
    const s = await waitForStatus(g, (st) => st.some((x) => x.kind === 'exited' || x.kind === 'error'));
    expect(await qemuExit(g)).toBe(0);
    expect(s.at(-1)).toEqual({ kind: 'exited', code: 0 });
    const stdout = (await logRecords(g)).filter((r) => r.stream === 'stdout').map((r) => r.text);
    expect(stdout.find((l) => l.includes(' lo '))).toMatch(/inet 127\.0\.0\.1\/8/);
    expect(stdout.find((l) => l.includes('10.0.2.15'))).toMatch(/^\d+: eth0 +inet 10\.0\.2\.15\/24 /);
    expect(stdout).toContain('default via 10.0.2.2 dev eth0 ');
  });

  it('reports an init failure as "error …" and powers off instead of hanging', async () => {
    const g = await boot(undefined);
    const s = await waitForStatus(g, (st) => st.some((x) => x.kind === 'error'));
    expect(await qemuExit(g)).toBe(0);
    expect(s).toEqual([{ kind: 'error', message: 'the task share has no spec file' }]);
  });
});

import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { encodeGuestSpec, guestCommandLine, guestInitramfs, parseGuestStatus, resolveKernel } from '../../libs/runtime/src/qemu';
import { qemuArgs, type Accel, type VmLaunch } from '../../libs/runtime/src/qemu/qemu-args';
import { vmPaths } from '../../libs/runtime/src/qemu/vm-paths';
import { isAlive, killIfAlive } from '../e2e/support/berth-cli';

const exec = promisify(execFile);
const QEMU = 'qemu-system-x86_64';

/** One bare boot: seconds from spawning QEMU until it daemonized, and until the guest init reported `running`. */
export interface BareBoot {
  readonly daemonizedSeconds: number;
  readonly runningSeconds: number;
}

/**
 * The floor a VM task's start is compared with: QEMU started by hand with the qemu driver's own
 * arguments (qemuArgs: -M microvm, the same kernel, the guest initramfs the driver builds, 9p
 * root and task share, virtio-serial ports, -daemonize), booting a root unpacked from the same
 * busybox layout with the same command, timed until the guest init writes `running` on its status
 * port — where the driver's start returns. No overlayfs, CNI, tap, cgroup, agent or control plane;
 * no NIC. The boot kit is built before the first run (as the driver builds it once per kernel).
 * Each VM is killed (by its pid file) after its run; everything is removed at the end.
 */
export async function timeBareQemu(/** `oci:DIR:TAG` */ layout: string, command: readonly string[], o: { runs: number; memoryMiB: number; accel: Accel }): Promise<BareBoot[]> {
  // Short: the control and QMP sockets live below it (sun_path is 108 bytes).
  const root = await mkdtemp(join(tmpdir(), 'bbq-'));
  const boots: BareBoot[] = [];
  try {
    const rootfs = join(root, 'bundle', 'rootfs');
    await exec('umoci', ['unpack', '--image', layout.replace(/^oci:/, ''), join(root, 'bundle')]);
    const kernel = await resolveKernel();
    const initrd = await guestInitramfs(kernel, join(root, 'kit'));
    for (let i = 0; i < o.runs; i++) {
      const taskId = `bare-${i}`;
      const p = { ...vmPaths(root, taskId), rootfs };
      for (const d of [p.share, p.stateDir]) await mkdir(d, { recursive: true });
      const spec = { argv: [...command], env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' }, workdir: '/', uid: 0, gid: 0, hostname: taskId };
      await writeFile(p.spec, encodeGuestSpec(spec));
      const launch: VmLaunch = { taskId, kernel: kernel.path, initrd, append: guestCommandLine({ console: true }), memoryMiB: o.memoryMiB, vcpus: 1, accel: o.accel };
      const started = performance.now();
      const qemu = spawn(QEMU, qemuArgs(p, launch), { stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      qemu.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
      const [code] = (await once(qemu, 'exit')) as [number | null];
      const daemonizedSeconds = (performance.now() - started) / 1000;
      if (code !== 0) throw new Error(`${QEMU} exited with ${code}: ${stderr}`);
      const pid = Number((await readFile(p.pidFile, 'utf8')).trim());
      try {
        const runningSeconds = await untilRunning(p.status, p.console, started);
        boots.push({ daemonizedSeconds, runningSeconds });
      } finally {
        killIfAlive(pid);
        for (let t = 0; t < 200 && isAlive(pid); t++) await sleep(50);
      }
    }
    return boots;
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

/** Seconds since `started` at which the status file first says `running` (polled every 10 ms, 2 min at most). */
async function untilRunning(statusFile: string, consoleFile: string, started: number): Promise<number> {
  for (;;) {
    const statuses = parseGuestStatus(await readFile(statusFile, 'utf8').catch(() => ''));
    if (statuses.some((s) => s.kind === 'running')) return (performance.now() - started) / 1000;
    const failed = statuses.find((s) => s.kind === 'error' || s.kind === 'exited');
    if (failed || performance.now() - started > 120_000) {
      const tail = (await readFile(consoleFile, 'utf8').catch(() => '')).split('\n').slice(-10).join('\n');
      throw new Error(`the bare guest did not run its workload (${JSON.stringify(statuses)}); console:\n${tail}`);
    }
    await sleep(10);
  }
}

import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isDomainError } from '@berth/core';
import { runCommand } from '../command';
import type {
  ExecOptions,
  ExecProcess,
  ExecResult,
  ExecStreamOptions,
  LogLine,
  LogOptions,
  RuntimeDriver,
  RuntimeStatus,
  TaskConfig,
  TaskHandle,
  TaskStats,
} from '../driver';
import { CommandFailedError, RuntimeOperationError, TaskSpecError } from '../errors';
import { imageUser } from '../image-user';
import type { ImageStore } from '../images/image-store';
import { readCriLog, readPlainLog, type FollowControl } from '../logs/log-reader';
import type { TaskNetwork } from '../network/task-network';
import { hostCgroupLayout, removeCgroup, type CgroupLayout } from '../runc/cgroups';
import { isMounted, mountOverlay } from '../runc/overlay';
import { DirectoryDoorbell, waitFor } from '../runc/task-process';
import { taskCgroupsPath } from '../runc/task-paths';
import { readStoredHandle, writeStoredHandle } from '../stored-handle';
import { taskImage } from '../task-image';
import { readTaskStats } from '../task-stats';
import { probeAcceleration, type Acceleration } from './accel';
import { BootKits } from './boot-kit';
import { DEFAULT_BUSYBOX, type GuestRoot } from './initramfs';
import { guestCommandLine, type GuestSpec } from './guest-protocol';
import { forTask, guestSpecFile } from './guest-spec';
import { guestMemoryMiB, qemuArgs, type Accel, type VmLaunch } from './qemu-args';
import { inVmCgroup, makeVmCgroup } from './vm-cgroup';
import { createOverlay, diskCommandLine, diskFormat, qmpCommand } from './vm-disk';
import { startDhcpServer, stopDhcpServer } from './vm-dhcp';
import { runVmExec, startVmExec } from './vm-exec';
import { GUEST_TAP, handOverToGuest } from './vm-network';
import { UNIX_PATH_MAX, vmPaths, type VmPaths } from './vm-paths';
import { claimVolumes, mountVolumes, unmountRootfs } from '../rootfs-volumes';
import { connectControl, consoleTail, exitCodeOf, guestStatuses, killQemu, KILLED, LOST, qemuPid } from './vm-state';

export interface QemuDriverOptions {
  /** This node's name: part of the cgroup path, so agents sharing a host stay apart. */
  readonly node: string;
  /**
   * The agent's runtime directory: each task lives in `<dataDir>/tasks/<id>`, named volumes in
   * `<dataDir>/volumes/<name>`, the guest initramfs (built once per kernel) and the acceleration
   * probe's cache in `<dataDir>/qemu`.
   */
  readonly dataDir: string;
  readonly images: ImageStore;
  /** Task networking; without it VMs run with no network (and tasks publishing ports are refused). */
  readonly network?: TaskNetwork;
  /** The kernel of tasks that name none (`vm.kernel`), as `resolveKernel` takes it (default: its own choice). */
  readonly kernel?: string;
  /** Static busybox put into the guest initramfs (default: the kit's choice). */
  readonly busybox?: string;
  readonly qemu?: string;
  /** How long start waits for the guest to run the workload (boot, mounts, exec). Default 60 s. */
  readonly bootTimeoutMs?: number;
  /** Deadline of each host command (QEMU's daemonize, mount). */
  readonly commandTimeoutMs?: number;
}

const DEFAULT_VCPUS = 1;
const NODE_NAME = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;
/** Longest a waiter goes without looking (status-file events usually wake it first). */
const WAIT_LOOK_MS = 1_000;

/**
 * Runs `runtime: vm` tasks as QEMU microVMs booted from the task's OCI image.
 *
 * The guest's root is the same overlay a container gets (the image's shared read-only rootfs
 * below, the task's own upper dir above), exported over 9p rather than converted into an ext4
 * disk image: no conversion step at start, the same copy-on-write layer and the same image cache
 * as containers, and the host can read what the task wrote. The cost is 9p's slower file I/O.
 *
 * Durable state is all on disk (task dir, pid file, status file), so a new instance adopts the
 * VMs of an old one. Each QEMU runs in its own cgroup with guest RAM + QEMU_MEMORY_OVERHEAD_MIB
 * as memory limit and the task's CPU quota. With a node network the guest owns the task's CNI
 * address (see handOverToGuest). VMs run under TCG until `acceleration()` has found KVM usable.
 * Commands run inside the guest in exec slots of virtio-serial ports (vm-exec.ts, guest-exec.ts).
 *
 * A task with `vm.disk` boots a whole OS instead (prepareDisk): a qcow2 overlay of the disk per
 * task, the disk-root initramfs (disk-init.ts), no berth init inside — its log is the serial
 * console, stop is ACPI power-down, exec is refused.
 */
export class QemuDriver implements RuntimeDriver {
  readonly name = 'qemu' as const;
  private layout: Promise<CgroupLayout> | undefined;
  private readonly kits: BootKits;
  private probe: Promise<Acceleration> | undefined;
  /** What new VMs are launched under: TCG until the probe has answered. */
  private accel: Accel = 'tcg';

  constructor(private readonly opts: QemuDriverOptions) {
    if (!NODE_NAME.test(opts.node)) throw new TaskSpecError('-', `node name "${opts.node}" is not a DNS-1123 name`);
    this.kits = new BootKits({ cacheDir: join(opts.dataDir, 'qemu'), busybox: opts.busybox });
  }

  /**
   * Whether this node's VMs run under KVM or TCG, and why (see probeAcceleration): probes once
   * per instance (with the default kernel's boot kit; cached on disk across instances) and from
   * then on prepares new VMs under its answer. prepare never waits for it. Never rejects: a probe
   * that cannot run answers 'tcg' and says why. Called by the agent at start, to report it.
   */
  acceleration(): Promise<Acceleration> {
    this.probe ??= this.kits
      .get(this.opts.kernel)
      .then((kit) => probeAcceleration({ qemu: this.qemuBinary, kernel: kit.kernel, initrd: kit.initrd, dataDir: this.opts.dataDir }))
      .catch((e: unknown): Acceleration => ({ accel: 'tcg', reason: `the KVM probe could not run: ${e instanceof Error ? e.message : String(e)}` }))
      .then((found) => {
        this.accel = found.accel;
        return found;
      });
    return this.probe;
  }

  async prepare(task: TaskConfig): Promise<TaskHandle> {
    if (task.runtime !== 'vm') throw new TaskSpecError(task.taskId, `qemu runs VMs (runtime vm), not runtime ${task.runtime}`);
    if (task.ports.length > 0 && !this.opts.network) throw new TaskSpecError(task.taskId, 'publishing ports needs a node network, and this qemu driver has none');
    const p = vmPaths(this.opts.dataDir, task.taskId);
    for (const socket of [p.control, p.qmp, ...p.execSlots.map((s) => s.sockets.out)]) {
      if (Buffer.byteLength(socket) > UNIX_PATH_MAX) {
        throw new TaskSpecError(task.taskId, `socket path ${socket} is longer than ${UNIX_PATH_MAX} bytes; use a shorter data directory`);
      }
    }
    const existing = await readStoredHandle(p.handleFile);
    if (existing && existsSync(p.launchFile)) return existing;
    if (task.vm?.disk !== undefined) return this.prepareDisk(task, p);
    // Before anything is pulled or made: a bad vm section leaves nothing behind.
    let launch = await this.launchFor(task).catch((e: unknown) => {
      throw prepareError(task.taskId, e);
    });
    const ref = taskImage(task);
    const image = await this.opts.images.pull(ref, { digest: task.imageDigest, policy: task.imagePull });
    let handle: TaskHandle = {
      driver: this.name,
      taskId: task.taskId,
      service: task.service,
      dir: p.dir,
      logPath: p.logPath,
      image: { ref, digest: image.digest },
      stopGracePeriodMs: task.stopGracePeriodMs,
    };
    try {
      const user = await imageUser(task.taskId, image);
      guestSpecFile(task, image.config, user); // refuse what the guest cannot run before setting anything up
      for (const d of [p.upper, p.work, p.rootfs, p.share, p.stateDir]) await mkdir(d, { recursive: true });
      await writeStoredHandle(p.handleFile, handle);
      await mountOverlay({ lower: image.rootfs, upper: p.upper, work: p.work, target: p.rootfs });
      const volumesDir = join(this.opts.dataDir, 'volumes');
      await claimVolumes(task, volumesDir, { kind: 'host' });
      await mountVolumes(task, p.rootfs, volumesDir, this.commandTimeoutMs);
      let guestNetwork: GuestSpec['network'];
      ({ handle, launch, guestNetwork } = await this.attachNetwork(task, p, handle, launch));
      await makeVmCgroup(await this.cgroupLayout(), taskCgroupsPath(this.opts.node, task.taskId), launch);
      await writeFile(p.spec, guestSpecFile(task, image.config, user, guestNetwork));
      // Written last: its presence means the task is fully prepared.
      await writeFile(p.launchFile, JSON.stringify(launch));
      return handle;
    } catch (e) {
      await this.destroy(handle).catch(() => undefined);
      throw prepareError(task.taskId, e);
    }
  }

  /**
   * prepare for a `vm.disk` VM: no image, no 9p root and no guest spec; a qcow2 overlay of the
   * disk in the task dir (the base image is only ever read) and the network as for any VM. With
   * `vm.kernel`, a kernel command line gives the disk-root init (disk-init.ts) the task's address;
   * without, the disk's own bootloader boots it and the guest gets its address from a DHCP server
   * in the task's namespace (vm-dhcp.ts), as a PC on a LAN would.
   */
  private async prepareDisk(task: TaskConfig, p: VmPaths): Promise<TaskHandle> {
    const disk = task.vm!.disk!;
    const refusal = diskVmRefusal(task);
    if (refusal) throw new TaskSpecError(task.taskId, refusal);
    const directKernel = task.vm?.kernel !== undefined;
    let launch: VmLaunch;
    try {
      const format = await diskFormat(task.taskId, disk, this.commandTimeoutMs);
      launch = { ...(directKernel ? await this.launchFor(task, 'disk') : this.sizeFor(task)), disk: p.disk };
      await mkdir(p.stateDir, { recursive: true });
      await createOverlay(disk, format, p.disk, this.commandTimeoutMs);
    } catch (e) {
      await rm(p.dir, { recursive: true, force: true });
      throw prepareError(task.taskId, e);
    }
    let handle: TaskHandle = { driver: this.name, taskId: task.taskId, service: task.service, dir: p.dir, logPath: p.console, stopGracePeriodMs: task.stopGracePeriodMs };
    try {
      await writeStoredHandle(p.handleFile, handle);
      let guestNetwork: GuestSpec['network'];
      ({ handle, launch, guestNetwork } = await this.attachNetwork(task, p, handle, launch));
      const cgroupsPath = taskCgroupsPath(this.opts.node, task.taskId);
      const layout = await this.cgroupLayout();
      await makeVmCgroup(layout, cgroupsPath, launch);
      if (directKernel) {
        launch = { ...launch, append: diskCommandLine(guestNetwork, task.vm?.cmdline) };
      } else if (guestNetwork && launch.network) {
        const busybox = this.opts.busybox ?? DEFAULT_BUSYBOX;
        await startDhcpServer({ lease: guestNetwork, files: p.dhcp, netnsPath: launch.network.netnsPath, busybox, layout, cgroupsPath, timeoutMs: this.commandTimeoutMs });
      }
      await writeFile(p.launchFile, JSON.stringify(launch));
      return handle;
    } catch (e) {
      await this.destroy(handle).catch(() => undefined);
      throw prepareError(task.taskId, e);
    }
  }

  /**
   * Sets up the task's CNI network (recorded in the stored handle before anything else, so a
   * failure later still tears it down) and hands its address over to the guest's tap; without
   * a network, the task runs with none.
   */
  private async attachNetwork(task: TaskConfig, p: VmPaths, handle: TaskHandle, launch: VmLaunch): Promise<{ handle: TaskHandle; launch: VmLaunch; guestNetwork: GuestSpec['network'] }> {
    if (!this.opts.network) return { handle, launch, guestNetwork: undefined };
    const attachment = await this.opts.network.setUp(task.taskId, task.ports);
    const attached = { ...handle, network: attachment };
    await writeStoredHandle(p.handleFile, attached);
    const guestNetwork = await handOverToGuest(task.taskId, attachment, this.commandTimeoutMs);
    return { handle: attached, launch: { ...launch, network: { netnsPath: attachment.netnsPath, tap: GUEST_TAP, mac: guestNetwork.mac } }, guestNetwork };
  }

  /**
   * Boots the VM and resolves once the guest runs the workload (or it already ended): the
   * agent inspects right after start to record the task running, as it does for containers.
   * Throws with the guest's own words (or its console's last lines) when the VM never got there.
   */
  async start(h: TaskHandle): Promise<void> {
    const p = vmPaths(this.opts.dataDir, h.taskId);
    const status = await this.inspect(h);
    if (status.state !== 'created') throw new RuntimeOperationError(h.taskId, 'start', `the task is ${status.state}, not created`);
    const launch = JSON.parse(await readFile(p.launchFile, 'utf8')) as VmLaunch;
    await writeFile(p.startedFile, new Date().toISOString());
    // nsenter --net switches only the network namespace (ip netns exec would remount /sys).
    const netns = launch.network ? ['nsenter', `--net=${launch.network.netnsPath}`] : [];
    const command = [...netns, this.qemuBinary, ...qemuArgs(p, launch)];
    try {
      await runCommand('sh', inVmCgroup(await this.cgroupLayout(), taskCgroupsPath(this.opts.node, h.taskId), command), { timeoutMs: this.commandTimeoutMs });
    } catch (e) {
      await killQemu(h.taskId, p.pidFile, 'start');
      throw new RuntimeOperationError(h.taskId, 'start', e instanceof Error ? e.message : String(e));
    }
    // A disk VM's own OS reports nothing to berth: it runs once QEMU does.
    if (launch.disk) return;
    await this.untilWorkloadRuns(h.taskId, p);
  }

  async wait(h: TaskHandle, signal?: AbortSignal): Promise<number> {
    const p = vmPaths(this.opts.dataDir, h.taskId);
    const doorbell = new DirectoryDoorbell(p.stateDir);
    try {
      for (;;) {
        const status = await this.inspect(h);
        if (status.state === 'exited') return status.exitCode;
        if (status.state === 'gone') throw new RuntimeOperationError(h.taskId, 'wait', 'the task is gone');
        await doorbell.next(WAIT_LOOK_MS, signal);
      }
    } finally {
      doorbell.close();
    }
  }

  /**
   * Asks the guest to stop the workload (SIGTERM inside the VM; the guest powers off once it
   * exited) — a `vm.disk` VM through ACPI power-down (QMP `system_powerdown`), its OS shuts down
   * as it would on a power button press —, waits up to `graceMs` for QEMU to end, then kills
   * QEMU and records exit code 137. A prepared task that never started is recorded as killed,
   * so it can no longer start.
   */
  async stop(h: TaskHandle, o: { readonly graceMs: number }): Promise<void> {
    const p = vmPaths(this.opts.dataDir, h.taskId);
    const status = await this.inspect(h);
    if (status.state === 'created') return writeFile(p.exitFile, String(KILLED));
    if (status.state !== 'running') return;
    const qemuGone = async () => ((await qemuPid(p.pidFile)) === undefined ? true : undefined);
    if (isDiskVm(p)) {
      await qmpCommand(p.qmp, 'system_powerdown');
      if (await waitFor(qemuGone, o.graceMs)) return;
    } else {
      // Held open while waiting: QEMU may drop what the guest had not read yet when the host end closes.
      const control = await connectControl(p.control);
      try {
        control?.write('stop\n');
        if (await waitFor(qemuGone, o.graceMs)) return;
      } finally {
        control?.destroy();
      }
    }
    if ((await exitCodeOf(p)) === undefined) await writeFile(p.exitFile, String(KILLED));
    await killQemu(h.taskId, p.pidFile, 'stop');
  }

  async destroy(h: TaskHandle): Promise<void> {
    const p = vmPaths(this.opts.dataDir, h.taskId);
    const network = h.network ?? (await readStoredHandle(p.handleFile))?.network;
    await killQemu(h.taskId, p.pidFile, 'destroy');
    await stopDhcpServer(h.taskId, p.dhcp);
    await unmountRootfs(p.rootfs);
    if (network && this.opts.network) await this.opts.network.tearDown(network);
    await removeCgroup(await this.cgroupLayout(), taskCgroupsPath(this.opts.node, h.taskId));
    await rm(p.dir, { recursive: true, force: true });
  }

  /**
   * created: prepared, QEMU never started. running (QEMU's pid): QEMU lives — from start's
   * return on the workload runs; only a VM still booting when the agent restarted is reported
   * running before it. exited: the guest's code, 137 when the driver killed the VM, 255 when
   * QEMU ended without the guest recording a code — but 0 for a `vm.disk` VM, whose OS records
   * none: QEMU (run with -no-reboot) ending on its own means the guest powered off or rebooted.
   */
  async inspect(h: TaskHandle): Promise<RuntimeStatus> {
    const p = vmPaths(this.opts.dataDir, h.taskId);
    const code = await exitCodeOf(p);
    if (code !== undefined) return { state: 'exited', exitCode: code };
    if (!existsSync(p.launchFile)) return { state: 'gone' };
    if (!existsSync(p.startedFile)) return { state: 'created' };
    const pid = await qemuPid(p.pidFile);
    if (pid !== undefined) return { state: 'running', pid };
    // The guest writes its exit just before powering off: look once more now QEMU is gone.
    return { state: 'exited', exitCode: (await exitCodeOf(p)) ?? (isDiskVm(p) ? 0 : LOST) };
  }

  async recover(h: TaskHandle): Promise<'attached' | 'gone'> {
    const p = vmPaths(this.opts.dataDir, h.taskId);
    if ((await exitCodeOf(p)) !== undefined) return 'attached';
    if (!existsSync(p.launchFile)) return 'gone';
    // Prepared, never started: still there as long as its overlay is (a reboot unmounts the 9p root's).
    if (!existsSync(p.startedFile)) return isDiskVm(p) || (await isMounted(p.rootfs)) ? 'attached' : 'gone';
    if ((await qemuPid(p.pidFile)) === undefined) return 'gone';
    if (h.network && this.opts.network) await this.opts.network.adopt(h.network);
    return 'attached';
  }

  /** Runs the command inside the guest as the workload (see runVmExec); the deadline counts from the command's start. */
  async exec(h: TaskHandle, command: readonly string[], o: ExecOptions): Promise<ExecResult> {
    this.refuseDiskExec(h);
    await this.running(h, 'exec');
    return runVmExec({ taskId: h.taskId, paths: vmPaths(this.opts.dataDir, h.taskId) }, command, o);
  }

  /**
   * Starts the command inside the guest (see startVmExec). With a tty, ending stdin types the
   * terminal's EOF character (Ctrl-D), and the session ends with the command: what else it left
   * running on the terminal is killed. Throws, saying so, when EXEC_SLOTS commands already run in the VM.
   */
  async execStream(h: TaskHandle, command: readonly string[], o: ExecStreamOptions): Promise<ExecProcess> {
    this.refuseDiskExec(h);
    await this.running(h, 'exec');
    return startVmExec({ taskId: h.taskId, paths: vmPaths(this.opts.dataDir, h.taskId) }, command, o);
  }

  /**
   * The workload's output (CRI lines from the guest init). A `vm.disk` VM has no berth init to
   * collect its programs' output: its log is its serial console, as consoleLogs gives it.
   */
  logs(h: TaskHandle, o: LogOptions = {}): AsyncIterable<LogLine> {
    if (isDiskVm(vmPaths(this.opts.dataDir, h.taskId))) return this.consoleLogs(h, o);
    return readCriLog(h.logPath, o, this.followUntilExit(h));
  }

  /**
   * The guest's serial console (kernel messages, the guest init's own lines) as log lines, with
   * logs()'s tail and follow: plain text, each line as stream 'stdout' stamped with the time it
   * was read (the console carries no times). For explaining a VM that misbehaves, not the task's output.
   */
  consoleLogs(h: TaskHandle, o: LogOptions = {}): AsyncIterable<LogLine> {
    return readPlainLog(vmPaths(this.opts.dataDir, h.taskId).console, o, this.followUntilExit(h));
  }

  /**
   * QEMU's cgroup: the guest's usage as the host sees it (guest RAM QEMU touched, plus QEMU); the
   * network from the veth's host end only — QEMU's namespace also holds the tap and the bridge.
   */
  async stats(h: TaskHandle): Promise<TaskStats> {
    return readTaskStats({ taskId: h.taskId, layout: this.cgroupLayout(), cgroupsPath: taskCgroupsPath(this.opts.node, h.taskId), network: h.network });
  }

  private refuseDiskExec(h: TaskHandle): void {
    if (isDiskVm(vmPaths(this.opts.dataDir, h.taskId))) {
      throw new RuntimeOperationError(h.taskId, 'exec', 'not supported for a VM booted from vm.disk: no berth init runs inside it to start commands');
    }
  }

  private async running(h: TaskHandle, operation: string): Promise<void> {
    const status = await this.inspect(h);
    if (status.state !== 'running') throw new RuntimeOperationError(h.taskId, operation, `the task is ${status.state}, not running`);
  }

  /** Waits for the guest's `running` (or an exit), QEMU's end, or the boot deadline. */
  private async untilWorkloadRuns(taskId: string, p: VmPaths): Promise<void> {
    const timeoutMs = this.opts.bootTimeoutMs ?? 60_000;
    const deadline = Date.now() + timeoutMs;
    const doorbell = new DirectoryDoorbell(p.stateDir);
    try {
      for (;;) {
        const statuses = await guestStatuses(p.status);
        const error = statuses.find((s) => s.kind === 'error');
        if (error) throw new RuntimeOperationError(taskId, 'start', `the guest could not run the task: ${error.message}`);
        if (statuses.some((s) => s.kind === 'running' || s.kind === 'exited')) return;
        if ((await qemuPid(p.pidFile)) === undefined) {
          throw new RuntimeOperationError(taskId, 'start', `the VM stopped before its workload ran${await consoleTail(p.console)}`);
        }
        if (Date.now() >= deadline) {
          await killQemu(taskId, p.pidFile, 'start');
          throw new RuntimeOperationError(taskId, 'start', `the guest did not run the workload within ${timeoutMs} ms${await consoleTail(p.console)}`);
        }
        await doorbell.next(Math.min(WAIT_LOOK_MS, deadline - Date.now()));
      }
    } finally {
      doorbell.close();
    }
  }

  /** The VM's size and boot kit (the task's kernel, else the driver's); throws TaskSpecError for a bad `vm` section. */
  private async launchFor(task: TaskConfig, root: GuestRoot = '9p'): Promise<VmLaunch> {
    const size = this.sizeFor(task);
    const kit = await this.kits.get(task.vm?.kernel ?? this.opts.kernel, root);
    return { ...size, kernel: kit.kernel, initrd: kit.initrd, append: guestCommandLine({ console: true }) };
  }

  /** The VM's size, acceleration and name, without a kernel (a disk VM booted by its own bootloader needs none). */
  private sizeFor(task: TaskConfig): VmLaunch {
    const vcpus = task.vm?.vcpus ?? DEFAULT_VCPUS;
    if (!Number.isInteger(vcpus) || vcpus < 1) throw new TaskSpecError(task.taskId, `vm.vcpus must be an integer ≥ 1 (got ${vcpus})`);
    return {
      taskId: task.taskId,
      memoryMiB: guestMemoryMiB(task.resources.memoryBytes),
      vcpus,
      cpuMillis: task.resources.cpuMillis,
      accel: this.accel,
    };
  }

  /** Follow ends once the task has exited or is gone. */
  private followUntilExit(h: TaskHandle): FollowControl {
    return {
      finished: async () => {
        const s = await this.inspect(h);
        return s.state === 'exited' || s.state === 'gone';
      },
    };
  }

  private get qemuBinary(): string {
    return this.opts.qemu ?? 'qemu-system-x86_64';
  }

  private get commandTimeoutMs(): number {
    return this.opts.commandTimeoutMs ?? 30_000;
  }

  private cgroupLayout(): Promise<CgroupLayout> {
    this.layout ??= hostCgroupLayout();
    return this.layout;
  }
}

/** True for a VM booted from `vm.disk` (its overlay exists from prepare until destroy). */
function isDiskVm(p: VmPaths): boolean {
  return existsSync(p.disk);
}

/**
 * Why the driver cannot run `task` as a disk VM (the manifest refuses the same at apply; this
 * guards other callers): what needs the berth init inside the guest, and kernel arguments without a kernel to pass them to.
 */
export function diskVmRefusal(task: TaskConfig): string | undefined {
  if (task.vm?.kernel === undefined && task.vm?.cmdline !== undefined) {
    return "vm.cmdline needs vm.kernel: a disk booted through its own bootloader takes its kernel arguments from its own boot configuration";
  }
  if (task.image !== undefined) return 'image and vm.disk exclude each other';
  if ((task.command?.length ?? 0) > 0 || Object.keys(task.env).length > 0 || task.volumes.length > 0) {
    return 'command, env and volumes need the berth init inside the guest, which a VM booted from vm.disk does not run';
  }
  return undefined;
}

/** What prepare throws: spec, image and network errors as they are (a task-less one named), tool failures with the task's name. */
function prepareError(taskId: string, e: unknown): unknown {
  if (isDomainError(e) && !(e instanceof CommandFailedError)) return forTask(taskId, e);
  return new RuntimeOperationError(taskId, 'prepare', e instanceof Error ? e.message : String(e));
}

import { randomBytes } from 'node:crypto';
import { chmod, chown, mkdir, readdir, readFile, rm, rmdir, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { capabilitiesInMask, isDomainError, type Capability } from '@berth/core';
import {
  EXEC_OUTPUT_LIMIT,
  type ExecOptions,
  type ExecProcess,
  type ExecResult,
  type ExecStreamOptions,
  type LogLine,
  type LogOptions,
  type RuntimeDriver,
  type RuntimeStatus,
  type TaskConfig,
  type TaskHandle,
  type TaskStats,
} from '../driver';
import { CommandFailedError, RuntimeOperationError, TaskSpecError } from '../errors';
import { taskImage } from '../task-image';
import { imageUser } from '../image-user';
import type { Image, ImageStore } from '../images/image-store';
import { readCriLog } from '../logs/log-reader';
import type { TaskNetwork } from '../network/task-network';
import { readStoredHandle, writeStoredHandle } from '../stored-handle';
import { readTaskStats } from '../task-stats';
import { hostCgroupLayout, removeCgroup, type CgroupLayout } from './cgroups';
import { launchConmon } from './conmon';
import { runcExecStream } from './exec-stream';
import { UNPRIVILEGED_PORTS, toOciSpec } from './oci-spec';
import { mountOverlay, unmount } from './overlay';
import { RuncCli } from './runc-cli';
import { taskCgroupsPath, taskPaths, type TaskPaths } from './task-paths';
import { conmonAlive, DirectoryDoorbell, killSession, readExitCode, readPid, waitFor } from './task-process';
import { runCommand } from '../command';
import { claimVolumes, mountVolumes, unmountRootfs } from '../rootfs-volumes';
import { checkMappable, nodeIdRange, type IdRange } from '../user-namespace';

export interface RuncDriverOptions {
  /** This node's name: part of the cgroup path, so agents sharing a host stay apart. */
  readonly node: string;
  /** Tasks live in `<dataDir>/tasks/<id>`, named volumes in `<dataDir>/volumes/<name>`. */
  readonly dataDir: string;
  readonly images: ImageStore;
  readonly network: TaskNetwork;
  /** runc's state directory (`--root`); default `/run/berth/<node>/runc` (tmpfs: gone after a reboot). */
  readonly runcRoot?: string;
  /** Absolute path of runc (conmon execs it). */
  readonly runc?: string;
  readonly conmon?: string;
  /** Per-task log file limit; conmon starts the file afresh beyond it. Default 10 MiB. */
  readonly logSizeMax?: number;
  /** Deadline of each runc/conmon call. */
  readonly commandTimeoutMs?: number;
  /**
   * First host id of the range this node's user-namespaced tasks map their ids 0 … 65535 to
   * (securityContext.userNamespace); default DEFAULT_USER_NAMESPACE_BASE. A multiple of 65536.
   */
  readonly userNamespaceBase?: number;
  /**
   * Where the root filesystems of user-namespaced tasks are mounted, one directory per task;
   * default `/run/berth-userns/<node>` (not below /run/berth, which runc makes 0700). runc sets
   * such a root up from inside the namespace, as an unprivileged host user, so every directory
   * above must let others search it (o+x), unlike the data dir (0700).
   */
  readonly userNamespaceRoots?: string;
}

const NODE_NAME = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;
/** Longest a waiter goes without looking at a running task (file events usually wake it first). */
const WAIT_LOOK_MS = 1_000;

/**
 * Runs tasks as OCI containers: overlayfs rootfs over the shared unpacked image, runc for
 * namespaces and cgroups, conmon as the shim that owns stdio, the log file and the exit code.
 * All durable state is on disk (task dir, runc --root), so a new instance adopts the tasks of
 * an old one. A task with securityContext.userNamespace runs in the node's id range over a
 * chowned copy of its image (ImageStore.shiftedRootfs); see docs/security.md.
 */
export class RuncDriver implements RuntimeDriver {
  readonly name = 'runc' as const;
  private readonly runc: RuncCli;
  private readonly runcBinary: string;
  private layout: Promise<CgroupLayout> | undefined;
  /**
   * Container init pids of the tasks known to run (started here, or seen running by runc):
   * while their conmon lives, inspect needs no `runc state` — spawning processes is the costliest
   * thing an agent with a hundred tasks does.
   */
  private readonly started = new Map<string, number>();
  private readonly idRange: IdRange;
  private readonly usernsRoots: string;

  constructor(private readonly opts: RuncDriverOptions) {
    if (!NODE_NAME.test(opts.node)) throw new TaskSpecError('-', `node name "${opts.node}" is not a DNS-1123 name`);
    this.idRange = nodeIdRange(opts.userNamespaceBase);
    this.usernsRoots = opts.userNamespaceRoots ?? `/run/berth-userns/${opts.node}`;
    this.runcBinary = opts.runc ?? '/usr/sbin/runc';
    this.runc = new RuncCli(this.runcBinary, opts.runcRoot ?? `/run/berth/${opts.node}/runc`, opts.commandTimeoutMs);
  }

  async prepare(task: TaskConfig): Promise<TaskHandle> {
    if (task.runtime !== 'container') throw new TaskSpecError(task.taskId, `runc runs containers, not runtime ${task.runtime}`);
    const paths = taskPaths(this.opts.dataDir, task.taskId);
    const existing = await readStoredHandle(paths.handleFile);
    if (existing && (await this.runc.state(task.taskId))) return existing;
    const userns = this.userNamespaceOf(task);
    const ref = taskImage(task);
    const image = await this.opts.images.pull(ref, { digest: task.imageDigest, policy: task.imagePull });
    let handle: TaskHandle = {
      driver: this.name,
      taskId: task.taskId,
      service: task.service,
      dir: paths.dir,
      logPath: paths.logPath,
      image: { ref, digest: image.digest },
      stopGracePeriodMs: task.stopGracePeriodMs,
    };
    try {
      for (const d of [paths.upper, paths.work, paths.rootfs, paths.exitDir, paths.socketDir]) await mkdir(d, { recursive: true });
      const lower = userns ? await this.shiftedLayers(task.taskId, image, paths, userns) : image.rootfs;
      await mountOverlay({ lower, upper: paths.upper, work: paths.work, target: this.rootOf(task.taskId, userns) });
      handle = { ...handle, network: await this.opts.network.setUp(task.taskId, task.ports) };
      await writeStoredHandle(paths.handleFile, handle);
      if (userns && handle.network) await allowLowPorts(handle.network.netnsPath);
      await this.create(task, image, paths, handle, userns);
      return handle;
    } catch (e) {
      await this.destroy(handle).catch(() => undefined);
      // Tool failures get the task's name; image, spec and network errors already say what failed.
      if (isDomainError(e) && !(e instanceof CommandFailedError)) throw e;
      throw new RuntimeOperationError(task.taskId, 'prepare', e instanceof Error ? e.message : String(e));
    }
  }

  async start(h: TaskHandle): Promise<void> {
    try {
      await this.runc.start(h.taskId);
    } catch (e) {
      const state = await this.runc.state(h.taskId).catch(() => undefined);
      if (state?.status !== 'created') {
        throw new RuntimeOperationError(h.taskId, 'start', `the task is ${state?.status ?? 'gone'}, not created`);
      }
      throw e;
    }
    const pid = await readPid(taskPaths(this.opts.dataDir, h.taskId).pidFile);
    if (pid) this.started.set(h.taskId, pid);
  }

  async wait(h: TaskHandle, signal?: AbortSignal): Promise<number> {
    const paths = taskPaths(this.opts.dataDir, h.taskId);
    // conmon writes the exit file as the task ends: a watch on its directory wakes us then. While
    // conmon lives, a look costs two /proc reads and spawns nothing (polling `runc state` for 100
    // tasks would keep a core busy); only without conmon does runc have to say what happened.
    const doorbell = new DirectoryDoorbell(paths.exitDir);
    try {
      for (;;) {
        const code = await readExitCode(paths.exitFile);
        if (code !== undefined) return code;
        if (!(await conmonAlive(paths))) {
          const status = await this.inspect(h);
          if (status.state === 'exited') return status.exitCode;
          if (status.state === 'gone') throw new RuntimeOperationError(h.taskId, 'wait', 'the task is gone');
        }
        await doorbell.next(WAIT_LOOK_MS, signal);
      }
    } finally {
      doorbell.close();
    }
  }

  async stop(h: TaskHandle, o: { readonly graceMs: number }): Promise<void> {
    const status = await this.inspect(h);
    if (status.state !== 'running' && status.state !== 'created') return;
    // A created task has not run any of its code yet: nothing to shut down gracefully.
    if (status.state === 'running') {
      await this.runc.kill(h.taskId, 'SIGTERM');
      if (await this.exitsWithin(h, o.graceMs)) return;
    }
    await this.runc.kill(h.taskId, 'SIGKILL');
    if (!(await this.exitsWithin(h, 10_000))) {
      throw new RuntimeOperationError(h.taskId, 'stop', 'the task was still running 10 s after SIGKILL');
    }
  }

  async destroy(h: TaskHandle): Promise<void> {
    this.started.delete(h.taskId);
    const paths = taskPaths(this.opts.dataDir, h.taskId);
    const network = h.network ?? (await readStoredHandle(paths.handleFile))?.network;
    await this.runc.deleteForce(h.taskId);
    await this.reapConmon(paths);
    await unmount(paths.rootfs);
    // A user-namespaced task's root, if it had one (the handle does not say): its volumes and itself unmounted, then its empty mount point.
    const usernsRoot = this.rootOf(h.taskId, this.idRange);
    await unmountRootfs(usernsRoot);
    await rmdir(usernsRoot).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== 'ENOENT') throw e;
    });
    if (network) await this.opts.network.tearDown(network);
    await removeCgroup(await this.cgroupLayout(), taskCgroupsPath(this.opts.node, h.taskId));
    await rm(paths.dir, { recursive: true, force: true });
  }

  async inspect(h: TaskHandle): Promise<RuntimeStatus> {
    const paths = taskPaths(this.opts.dataDir, h.taskId);
    const code = await readExitCode(paths.exitFile);
    if (code !== undefined) return { state: 'exited', exitCode: code };
    // A task this instance started runs until its exit file appears, as long as its shim lives.
    const pid = this.started.get(h.taskId);
    if (pid !== undefined && (await conmonAlive(paths))) return { state: 'running', pid };
    const state = await this.runc.state(h.taskId);
    if (!state) return { state: 'gone' };
    if (state.status === 'running') this.started.set(h.taskId, state.pid);
    if (state.status === 'created' || state.status === 'creating') return { state: 'created' };
    if (state.status !== 'stopped') return { state: 'running', pid: state.pid };
    // Stopped, but conmon has not written the exit file yet: it does so right after reaping.
    const late = await waitFor(() => readExitCode(paths.exitFile), 5_000, async () => !(await conmonAlive(paths)));
    // 255: the shim died before it could record the code (it was killed); the code is lost.
    return { state: 'exited', exitCode: late ?? 255 };
  }

  async recover(h: TaskHandle): Promise<'attached' | 'gone'> {
    const paths = taskPaths(this.opts.dataDir, h.taskId);
    if ((await readExitCode(paths.exitFile)) !== undefined) return 'attached';
    if (!(await this.runc.state(h.taskId))) return 'gone';
    // Still running: hold its host ports again, as the previous agent process did.
    if (h.network) await this.opts.network.adopt(h.network);
    await this.endOrphanedExecs(h.taskId, paths.dir);
    return 'attached';
  }

  /**
   * Commands exec'd by an agent process that died before they ended have nobody reading them
   * any more: their sessions are killed (only pids still in this task's cgroup, so a reused pid
   * is left alone) and their pid files removed.
   */
  private async endOrphanedExecs(taskId: string, dir: string): Promise<void> {
    for (const file of (await readdir(dir).catch(() => [])).filter((f) => /^exec-[0-9a-f]+\.pid$/.test(f))) {
      const path = join(dir, file);
      const pid = await readPid(path);
      const cgroups = pid ? (await readFile(`/proc/${pid}/cgroup`, 'utf8').catch(() => '')).split('\n') : [];
      const own = taskCgroupsPath(this.opts.node, taskId);
      if (pid && cgroups.some((line) => line.endsWith(`:${own}`))) await killSession(pid);
      await rm(path, { force: true });
    }
  }

  async exec(h: TaskHandle, command: readonly string[], o: ExecOptions): Promise<ExecResult> {
    const pidFile = await this.execPidFile(h);
    return this.runc.exec(h.taskId, command, { timeoutMs: o.timeoutMs, pidFile, outputLimit: EXEC_OUTPUT_LIMIT, signal: o.signal });
  }

  async execStream(h: TaskHandle, command: readonly string[], o: ExecStreamOptions): Promise<ExecProcess> {
    const pidFile = await this.execPidFile(h);
    return runcExecStream(this.runc, h.taskId, command, { ...o, pidFile });
  }

  logs(h: TaskHandle, o: LogOptions = {}): AsyncIterable<LogLine> {
    return readCriLog(h.logPath, o, {
      finished: async () => {
        const s = await this.inspect(h);
        return s.state === 'exited' || s.state === 'gone';
      },
    });
  }

  async stats(h: TaskHandle): Promise<TaskStats> {
    return readTaskStats({
      taskId: h.taskId,
      layout: this.cgroupLayout(),
      cgroupsPath: taskCgroupsPath(this.opts.node, h.taskId),
      network: h.network,
      // No host end named in the CNI result: read through a process in the namespace (a running task has one).
      pidInNetns: async () => {
        const status = await this.inspect(h);
        return status.state === 'running' ? status.pid : undefined;
      },
    });
  }

  /** Where the task's root filesystem is mounted: in its task dir, or (user namespace) below userNamespaceRoots. */
  private rootOf(taskId: string, userns: IdRange | undefined): string {
    return userns ? join(this.usernsRoots, taskId) : taskPaths(this.opts.dataDir, taskId).rootfs;
  }

  /** The node's id range when the task asks for a user namespace. */
  private userNamespaceOf(task: TaskConfig): IdRange | undefined {
    return task.securityContext?.userNamespace === true ? this.idRange : undefined;
  }

  /**
   * The lower layer of a user-namespaced task (the image copy owned by the node's range), with
   * the task's own layer owned by the range's root. runc sets the task's root up from inside the
   * namespace, as an unprivileged host uid: every directory above it must let others through.
   */
  private async shiftedLayers(taskId: string, image: Image, paths: TaskPaths, range: IdRange): Promise<string> {
    const root = this.rootOf(taskId, range);
    await mkdir(root, { recursive: true, mode: 0o711 });
    await requireSearchable(taskId, root);
    const lower = await this.opts.images.shiftedRootfs(image, range);
    for (const d of [paths.upper, paths.work]) await chown(d, range.base, range.base);
    // The merged root takes its owner and mode from the upper dir.
    await chmod(paths.upper, (await stat(lower)).mode & 0o7777);
    return lower;
  }

  private async create(task: TaskConfig, image: Image, paths: TaskPaths, handle: TaskHandle, userns: IdRange | undefined): Promise<void> {
    const volumesDir = join(this.opts.dataDir, 'volumes');
    await claimVolumes(task, volumesDir, userns ? { kind: 'userns', base: userns.base } : { kind: 'host' });
    // A user namespace could not open the volumes in the data dir (0700): they go into its root here, on the host.
    if (userns) await mountVolumes(task, this.rootOf(task.taskId, userns), volumesDir, this.opts.commandTimeoutMs ?? 30_000, userns.base);
    const user = await imageUser(task.taskId, image, task.securityContext);
    if (userns) checkMappable(task.taskId, userns, user);
    const spec = toOciSpec(task, image.config, {
      rootfs: this.rootOf(task.taskId, userns),
      netnsPath: handle.network?.netnsPath,
      cgroupsPath: taskCgroupsPath(this.opts.node, task.taskId),
      volumesDir,
      user,
      arch: process.arch,
      ...(userns ? { userNamespace: userns } : {}),
      ...(task.securityContext?.privileged ? { boundingCapabilities: await ownBoundingSet() } : {}),
    });
    await writeFile(paths.config, JSON.stringify(spec, null, 2));
    await rm(paths.exitFile, { force: true });
    await launchConmon(
      {
        conmon: this.opts.conmon ?? 'conmon',
        runtime: this.runcBinary,
        runtimeArgs: this.runc.globalArgs,
        id: task.taskId,
        bundle: paths.bundle,
        pidFile: paths.pidFile,
        conmonPidFile: paths.conmonPidFile,
        logPath: paths.logPath,
        exitDir: paths.exitDir,
        socketDir: paths.socketDir,
        logSizeMax: this.opts.logSizeMax ?? 10 * 1024 * 1024,
      },
      this.opts.commandTimeoutMs ?? 30_000,
    );
  }

  /** Refuses a task that is not running; else a pid file of the exec's own (execs of one task may overlap). */
  private async execPidFile(h: TaskHandle): Promise<string> {
    const status = await this.inspect(h);
    if (status.state !== 'running') throw new RuntimeOperationError(h.taskId, 'exec', `the task is ${status.state}, not running`);
    return join(taskPaths(this.opts.dataDir, h.taskId).dir, `exec-${randomBytes(4).toString('hex')}.pid`);
  }

  private async exitsWithin(h: TaskHandle, ms: number): Promise<boolean> {
    const done = await waitFor(async () => {
      const s = await this.inspect(h);
      return s.state === 'exited' || s.state === 'gone' ? true : undefined;
    }, ms);
    return done === true;
  }

  /** conmon exits right after the container; one that hangs on is killed (by its pid file). */
  private async reapConmon(paths: TaskPaths): Promise<void> {
    const gone = await waitFor(async () => ((await conmonAlive(paths)) ? undefined : true), 5_000);
    const pid = await readPid(paths.conmonPidFile);
    if (gone || !pid) return;
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // It exited between the check and the kill: what we wanted.
    }
  }

  private cgroupLayout(): Promise<CgroupLayout> {
    this.layout ??= hostCgroupLayout();
    return this.layout;
  }
}

/**
 * Sets UNPRIVILEGED_PORTS in the task's network namespace from the host's side: the namespace
 * belongs to the host's user namespace, so runc, inside the task's, may not.
 */
async function allowLowPorts(netnsPath: string): Promise<void> {
  const script = Object.entries(UNPRIVILEGED_PORTS)
    .map(([key, value]) => `echo ${value} > /proc/sys/${key.replaceAll('.', '/')}`)
    .join(' && ');
  await runCommand('nsenter', [`--net=${netnsPath}`, 'sh', '-c', script], { timeoutMs: 10_000 });
}

/** Throws TaskSpecError unless every directory from `/` down to `path`'s parent lets others search it (o+x). */
async function requireSearchable(taskId: string, path: string): Promise<void> {
  for (let dir = dirname(path); ; dir = dirname(dir)) {
    const mode = (await stat(dir)).mode;
    if ((mode & 0o001) === 0) {
      throw new TaskSpecError(
        taskId,
        `${dir} (mode ${(mode & 0o777).toString(8).padStart(4, '0')}) must be searchable by others (chmod o+x) for tasks in a user namespace: runc sets up their root from inside it, as an unprivileged host user`,
      );
    }
    if (dir === '/') return;
  }
}

/** The capabilities this process may still hold (its bounding set), what a privileged task gets. */
async function ownBoundingSet(): Promise<Capability[]> {
  const line = (await readFile('/proc/self/status', 'utf8')).split('\n').find((l) => l.startsWith('CapBnd:'));
  return capabilitiesInMask(line?.slice('CapBnd:'.length) ?? '');
}

import type { TaskConfig } from '../driver';
import { TaskSpecError } from '../errors';
import type { ImageConfig } from '../images/image-config';
import { volumeBinds } from '../task-volumes';
import type { ProcessUser } from './user';

/** The subset of the OCI runtime spec (config.json) berth writes. */
export interface OciSpec {
  readonly ociVersion: string;
  readonly process: {
    readonly terminal: boolean;
    readonly user: { readonly uid: number; readonly gid: number };
    readonly args: readonly string[];
    readonly env: readonly string[];
    readonly cwd: string;
    readonly capabilities: Readonly<Record<'bounding' | 'effective' | 'permitted' | 'ambient', readonly string[]>>;
    readonly rlimits: readonly { readonly type: string; readonly hard: number; readonly soft: number }[];
    readonly noNewPrivileges: boolean;
  };
  readonly root: { readonly path: string; readonly readonly: boolean };
  readonly hostname: string;
  readonly mounts: readonly OciMount[];
  readonly annotations: Readonly<Record<string, string>>;
  readonly linux: {
    readonly cgroupsPath: string;
    readonly resources: Record<string, unknown>;
    readonly namespaces: readonly { readonly type: string; readonly path?: string }[];
    readonly maskedPaths: readonly string[];
    readonly readonlyPaths: readonly string[];
  };
}

export interface OciMount {
  readonly destination: string;
  readonly type: string;
  readonly source: string;
  readonly options?: readonly string[];
}

/** Where the task's pieces live on the host; everything toOciSpec needs besides task and image. */
export interface SpecContext {
  /** The mounted overlay (image below, task layer above). */
  readonly rootfs: string;
  /** The task's network namespace; a fresh, unconnected one when undefined. */
  readonly netnsPath?: string;
  /** e.g. `/berth/<node>/<taskId>`. */
  readonly cgroupsPath: string;
  /** `<dataDir>/volumes`; volume `name` is bind-mounted from `<volumesDir>/<name>`. */
  readonly volumesDir: string;
  readonly user: ProcessUser;
}

/** The runc spec's minimal capability set; everything else is dropped. */
export const DEFAULT_CAPABILITIES = ['CAP_AUDIT_WRITE', 'CAP_KILL', 'CAP_NET_BIND_SERVICE'] as const;
export const CPU_PERIOD_US = 100_000;

/** Process arguments: the task's command when given, otherwise the image's entrypoint + cmd. */
export function processArgs(task: TaskConfig, image: ImageConfig): string[] {
  const args = task.command && task.command.length > 0 ? [...task.command] : [...image.entrypoint, ...image.cmd];
  if (args.length === 0) throw new TaskSpecError(task.taskId, `image ${task.image} has no entrypoint or cmd, and the task gives no command`);
  return args;
}

/** Environment: the image's, then HOSTNAME, then the task's (later entries win). */
export function processEnv(task: TaskConfig, image: ImageConfig): string[] {
  const env: Record<string, string> = { ...image.env, HOSTNAME: task.taskId, ...task.env };
  return Object.entries(env).map(([k, v]) => `${k}=${v}`);
}

/** cgroup limits from the task's resources; unlimited dimensions are left out. */
export function linuxResources(task: TaskConfig): Record<string, unknown> {
  const { cpuMillis, memoryBytes, pids } = task.resources;
  const resources: Record<string, unknown> = { devices: [{ allow: false, access: 'rwm' }] };
  // swap = limit: memory+swap may not exceed the memory limit, so the task never swaps.
  if (memoryBytes !== undefined) resources.memory = { limit: memoryBytes, swap: memoryBytes };
  if (cpuMillis !== undefined) {
    resources.cpu = {
      // The kernel refuses quotas under 1 ms per period.
      quota: Math.max(1000, Math.round((cpuMillis * CPU_PERIOD_US) / 1000)),
      period: CPU_PERIOD_US,
      shares: Math.max(2, Math.round((cpuMillis * 1024) / 1000)),
    };
  }
  if (pids !== undefined) resources.pids = { limit: pids };
  return resources;
}

/**
 * Pure translation of a task and its image into an OCI runtime config, keeping runc's hardened
 * defaults: minimal capabilities, noNewPrivileges, masked and read-only /proc paths, read-only
 * /sys, all devices denied except the default set. Throws TaskSpecError when there is nothing to run
 * or a volume path is not absolute.
 */
export function toOciSpec(task: TaskConfig, image: ImageConfig, ctx: SpecContext): OciSpec {
  const caps = [...DEFAULT_CAPABILITIES];
  return {
    ociVersion: '1.0.2-dev',
    process: {
      terminal: false,
      user: { uid: ctx.user.uid, gid: ctx.user.gid },
      args: processArgs(task, image),
      env: processEnv(task, image),
      cwd: image.workingDir ?? '/',
      capabilities: { bounding: caps, effective: caps, permitted: caps, ambient: caps },
      rlimits: [{ type: 'RLIMIT_NOFILE', hard: 1024, soft: 1024 }],
      noNewPrivileges: true,
    },
    root: { path: ctx.rootfs, readonly: false },
    hostname: task.taskId,
    mounts: [...DEFAULT_MOUNTS, ...volumeMounts(task, ctx.volumesDir)],
    annotations: { 'berth.task': task.taskId, 'berth.service': task.service, 'berth.image': task.image ?? '' },
    linux: {
      cgroupsPath: ctx.cgroupsPath,
      resources: linuxResources(task),
      namespaces: [
        { type: 'pid' },
        ctx.netnsPath ? { type: 'network', path: ctx.netnsPath } : { type: 'network' },
        { type: 'ipc' },
        { type: 'uts' },
        { type: 'mount' },
      ],
      maskedPaths: MASKED_PATHS,
      readonlyPaths: READONLY_PATHS,
    },
  };
}

function volumeMounts(task: TaskConfig, volumesDir: string): OciMount[] {
  return volumeBinds(task, volumesDir).map((v) => ({ destination: v.destination, type: 'bind', source: v.source, options: ['rbind', 'rw', 'nosuid', 'nodev'] }));
}

const DEFAULT_MOUNTS: readonly OciMount[] = [
  { destination: '/proc', type: 'proc', source: 'proc' },
  { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
  { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'] },
  { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
  { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
  { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
  { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['nosuid', 'noexec', 'nodev', 'relatime', 'ro'] },
];

const MASKED_PATHS = [
  '/proc/acpi',
  '/proc/asound',
  '/proc/kcore',
  '/proc/keys',
  '/proc/latency_stats',
  '/proc/timer_list',
  '/proc/timer_stats',
  '/proc/sched_debug',
  '/sys/firmware',
  '/proc/scsi',
];

const READONLY_PATHS = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];

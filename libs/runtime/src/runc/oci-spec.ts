import { DEFAULT_TASK_PIDS, LINUX_CAPABILITIES, READ_ONLY_ROOT_TMP_BYTES, type Capability } from '@berth/core';
import type { TaskConfig } from '../driver';
import { TaskSpecError } from '../errors';
import type { ImageConfig } from '../images/image-config';
import { volumeBinds } from '../task-volumes';
import { idMappings, type IdRange, type OciIdMapping } from '../user-namespace';
import { seccompProfile, type OciSeccomp } from './seccomp-profile';
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
    readonly capabilities: Readonly<Record<'bounding' | 'effective' | 'permitted' | 'inheritable' | 'ambient', readonly string[]>>;
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
    readonly uidMappings?: readonly OciIdMapping[];
    readonly gidMappings?: readonly OciIdMapping[];
    readonly maskedPaths: readonly string[];
    readonly readonlyPaths: readonly string[];
    readonly sysctl: Readonly<Record<string, string>>;
    /** Absent for a privileged task only. */
    readonly seccomp?: OciSeccomp;
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
  /** The image's user, or the task's runAsUser / runAsGroup in its place. */
  readonly user: ProcessUser;
  /** The node's `process.arch`: which syscall tables the seccomp filter covers. */
  readonly arch: string;
  /**
   * securityContext.userNamespace: the node's id range the task's ids map to. `rootfs` must then
   * be over a copy of the image owned by that range (ImageStore.shiftedRootfs).
   */
  readonly userNamespace?: IdRange;
  /**
   * The agent's own bounding set: all a privileged task can get (runc cannot hand out what it
   * does not hold itself; a node that is a container may lack some). Default: every capability.
   */
  readonly boundingCapabilities?: readonly Capability[];
}

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

/** cgroup limits from the task's resources; unlimited dimensions are left out, but pids always has a limit. */
export function linuxResources(task: TaskConfig): Record<string, unknown> {
  const { cpuMillis, memoryBytes, pids } = task.resources;
  // A privileged task may use every device (the host's /dev is bound in); others only runc's default set.
  const resources: Record<string, unknown> = { devices: [{ allow: task.securityContext?.privileged === true, access: 'rwm' }] };
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
  resources.pids = { limit: pids ?? DEFAULT_TASK_PIDS };
  return resources;
}

/**
 * Pure translation of a task and its image into an OCI runtime config, hardened as
 * docs/security.md describes: no capabilities but those the task adds back (in every set, so a
 * non-root user holds them too), noNewPrivileges, the default seccomp filter, a cgroup namespace,
 * masked and read-only /proc and /sys paths, all devices denied except the default set, a pids
 * limit. A privileged task (an admin's) keeps its namespaces and limits but none of the rest:
 * every capability the agent holds, privilege escalation, no seccomp filter, nothing masked, /sys writable, the
 * host's devices. Throws TaskSpecError when there is nothing to run or a volume path is not
 * absolute.
 */
export function toOciSpec(task: TaskConfig, image: ImageConfig, ctx: SpecContext): OciSpec {
  const privileged = task.securityContext?.privileged === true;
  const caps = privileged ? [...(ctx.boundingCapabilities ?? LINUX_CAPABILITIES)] : [...(task.securityContext?.addCapabilities ?? [])];
  const readOnlyRoot = task.securityContext?.readOnlyRootFilesystem === true;
  const userns = ctx.userNamespace;
  // In a user namespace runc can set a sysctl only of a network namespace the task's own user
  // namespace owns; the CNI namespace belongs to the host's, so the driver sets it from outside.
  const ownsNetns = !userns || !ctx.netnsPath;
  return {
    ociVersion: '1.0.2-dev',
    process: {
      terminal: false,
      user: { uid: ctx.user.uid, gid: ctx.user.gid },
      args: processArgs(task, image),
      env: processEnv(task, image),
      cwd: image.workingDir ?? '/',
      capabilities: { bounding: caps, effective: caps, permitted: caps, inheritable: caps, ambient: caps },
      rlimits: [{ type: 'RLIMIT_NOFILE', hard: 1024, soft: 1024 }],
      noNewPrivileges: !privileged,
    },
    root: { path: ctx.rootfs, readonly: readOnlyRoot },
    hostname: task.taskId,
    // A user-namespaced task's volumes are already mounted inside its root (the driver does it on the host).
    mounts: [...(userns ? USERNS_MOUNTS : privileged ? PRIVILEGED_MOUNTS : DEFAULT_MOUNTS), ...(readOnlyRoot ? [WRITABLE_TMP] : []), ...(userns ? [] : volumeMounts(task, ctx.volumesDir))],
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
        { type: 'cgroup' },
        ...(userns ? [{ type: 'user' }] : []),
      ],
      ...(userns ? { uidMappings: idMappings(userns), gidMappings: idMappings(userns) } : {}),
      maskedPaths: privileged ? [] : MASKED_PATHS,
      readonlyPaths: privileged ? [] : READONLY_PATHS,
      // The task always has a network namespace of its own (above): ports below 1024 are then no
      // privilege, as in Docker, so a server binds :80 without CAP_NET_BIND_SERVICE.
      sysctl: ownsNetns ? { ...UNPRIVILEGED_PORTS } : {},
      ...(privileged ? {} : { seccomp: seccompProfile(caps, ctx.arch) }),
    },
  };
}

function volumeMounts(task: TaskConfig, volumesDir: string): OciMount[] {
  return volumeBinds(task, volumesDir).map((v) => ({ destination: v.destination, type: 'bind', source: v.source, options: ['rbind', 'rw', 'nosuid', 'nodev'] }));
}

/** The sysctl that lets any user of the task bind ports below 1024 (its network namespace is its own). */
export const UNPRIVILEGED_PORTS = { 'net.ipv4.ip_unprivileged_port_start': '0' } as const;

const DEFAULT_MOUNTS: readonly OciMount[] = [
  { destination: '/proc', type: 'proc', source: 'proc' },
  { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
  { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'] },
  { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
  { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
  { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
  { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['nosuid', 'noexec', 'nodev', 'relatime', 'ro'] },
];

/**
 * A privileged task's: the host's /dev (its devices; the task still gets its own pts, shm and
 * mqueue mounted over it) and a writable /sys and cgroup tree.
 */
const PRIVILEGED_MOUNTS: readonly OciMount[] = DEFAULT_MOUNTS.map((m) => {
  if (m.destination === '/dev') return { destination: '/dev', type: 'bind', source: '/dev', options: ['rbind', 'nosuid'] };
  if (m.destination === '/sys' || m.destination === '/sys/fs/cgroup') return { ...m, options: (m.options ?? []).filter((o) => o !== 'ro') };
  return m;
});

/**
 * In a user namespace sysfs can only be mounted for a network namespace that namespace owns, and
 * the task's (CNI's) belongs to the host: the host's /sys is bound instead, read-only all the way
 * down, with the same masked paths. The task sees the host's /sys/class/net then, not its own.
 */
const USERNS_MOUNTS: readonly OciMount[] = DEFAULT_MOUNTS.map((m) =>
  m.destination === '/sys' ? { destination: '/sys', type: 'bind', source: '/sys', options: ['rbind', 'nosuid', 'noexec', 'nodev', 'rro'] } : m,
);

/** Scratch space on a read-only root (volumes and /dev/shm stay writable too); tmpfs pages count against the task's memory limit. */
const WRITABLE_TMP: OciMount = {
  destination: '/tmp',
  type: 'tmpfs',
  source: 'tmpfs',
  options: ['nosuid', 'nodev', 'mode=1777', `size=${READ_ONLY_ROOT_TMP_BYTES / 1024}k`],
};

/** Docker's: kernel state a task has no business reading (or that leaks the host's). */
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
  '/sys/devices/virtual/powercap',
  '/proc/scsi',
];

const READONLY_PATHS = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];

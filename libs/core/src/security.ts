/**
 * How a container task is confined. Everything here is a default berth applies to every
 * `runtime: container` task; a template's `securityContext` can only add back what it names.
 */

/** Every Linux capability by its bit number (include/uapi/linux/capability.h, up to 6.x kernels). */
export const LINUX_CAPABILITIES = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_DAC_READ_SEARCH',
  'CAP_FOWNER',
  'CAP_FSETID',
  'CAP_KILL',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETPCAP',
  'CAP_LINUX_IMMUTABLE',
  'CAP_NET_BIND_SERVICE',
  'CAP_NET_BROADCAST',
  'CAP_NET_ADMIN',
  'CAP_NET_RAW',
  'CAP_IPC_LOCK',
  'CAP_IPC_OWNER',
  'CAP_SYS_MODULE',
  'CAP_SYS_RAWIO',
  'CAP_SYS_CHROOT',
  'CAP_SYS_PTRACE',
  'CAP_SYS_PACCT',
  'CAP_SYS_ADMIN',
  'CAP_SYS_BOOT',
  'CAP_SYS_NICE',
  'CAP_SYS_RESOURCE',
  'CAP_SYS_TIME',
  'CAP_SYS_TTY_CONFIG',
  'CAP_MKNOD',
  'CAP_LEASE',
  'CAP_AUDIT_WRITE',
  'CAP_AUDIT_CONTROL',
  'CAP_SETFCAP',
  'CAP_MAC_OVERRIDE',
  'CAP_MAC_ADMIN',
  'CAP_SYSLOG',
  'CAP_WAKE_ALARM',
  'CAP_BLOCK_SUSPEND',
  'CAP_AUDIT_READ',
  'CAP_PERFMON',
  'CAP_BPF',
  'CAP_CHECKPOINT_RESTORE',
] as const;

export type Capability = (typeof LINUX_CAPABILITIES)[number];

const KNOWN: ReadonlySet<string> = new Set(LINUX_CAPABILITIES);

/** `net_bind_service`, `NET_BIND_SERVICE` or `CAP_NET_BIND_SERVICE` → `CAP_NET_BIND_SERVICE`; undefined for no capability. */
export function normaliseCapability(name: string): Capability | undefined {
  const upper = name.trim().toUpperCase();
  const full = upper.startsWith('CAP_') ? upper : `CAP_${upper}`;
  return KNOWN.has(full) ? (full as Capability) : undefined;
}

/** The capability's bit in /proc/PID/status CapEff and friends. */
export function capabilityBit(cap: Capability): number {
  return LINUX_CAPABILITIES.indexOf(cap);
}

/** The capabilities whose bits are set in a /proc/PID/status capability mask (`CapBnd: 000001ffffffffff`). */
export function capabilitiesInMask(hex: string): Capability[] {
  const mask = BigInt(`0x${hex.trim() || '0'}`);
  return LINUX_CAPABILITIES.filter((_, bit) => ((mask >> BigInt(bit)) & 1n) === 1n);
}

/** The largest uid or gid a task may run as: 2^31 - 2, a positive int32 everywhere, with 2^31 - 1 left to tools that use it as a marker. */
export const MAX_TASK_ID = 2 ** 31 - 2;

/** Processes a container task may run at once when `resources.pids` is not given (fork bombs end here). */
export const DEFAULT_TASK_PIDS = 4096;

/**
 * Ids a task in its own user namespace has: uid and gid 0 … USER_NAMESPACE_IDS - 1 inside map to
 * one contiguous range of unprivileged host ids (the node's, see docs/security.md). 65536, as in
 * Docker and /etc/subuid: every 16-bit id an image's files or users may have.
 */
export const USER_NAMESPACE_IDS = 65536;

/** Size of the writable /tmp of a task with a read-only root filesystem; its pages count against the task's memory limit. */
export const READ_ONLY_ROOT_TMP_BYTES = 64 * 1024 * 1024;

/**
 * What a container task's template changes of the hardened defaults. Stored only with what
 * differs from them (no key for a default), so writing a default out in a manifest is no change
 * and no rollout.
 */
export interface SecurityContext {
  /** Capabilities the task keeps, `CAP_`-prefixed, sorted, unique; absent: none at all. */
  readonly addCapabilities?: readonly Capability[];
  /** The root filesystem is read-only; `/tmp` is a tmpfs of READ_ONLY_ROOT_TMP_BYTES, volumes stay writable. */
  readonly readOnlyRootFilesystem?: true;
  /** Overrides the image's USER (its uid); the group is then the image's for that uid, else 0, unless runAsGroup. */
  readonly runAsUser?: number;
  /** Overrides the group the process runs as, whichever user it runs as. */
  readonly runAsGroup?: number;
  /**
   * The task runs in a user namespace of its own: its uids/gids 0 … USER_NAMESPACE_IDS - 1 are the
   * node's unprivileged id range on the host (root inside is nobody outside). Its image is a
   * chowned copy; a volume serves tasks with a user namespace or tasks without, not both.
   */
  readonly userNamespace?: true;
  /**
   * Every capability, no seccomp filter, no masked /proc and /sys paths, the host's devices,
   * privilege escalation allowed: the task is root on the node. Only an admin token may apply it.
   */
  readonly privileged?: true;
}

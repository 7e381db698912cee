import type { ImagePullPolicy, PortMapping, Resources, Runtime, SecurityContext, VolumeMount } from '@berth/core';
import type { Readable, Writable } from 'node:stream';
import type { NetworkAttachment } from './network/task-network';

/**
 * Everything a driver needs to run one task, derived by the agent from the task's service
 * template. The task id doubles as the container's hostname and runtime id.
 */
export interface TaskConfig {
  /** `<service>.<slot>.<suffix>`; unique for all time, also the hostname inside the task. */
  readonly taskId: string;
  readonly service: string;
  /** What the task runs as; the agent hands it to the driver serving that runtime on this node. */
  readonly runtime: Runtime;
  /** `HOST[:PORT]/repo:tag`, `HOST[:PORT]/repo@sha256:…`, or `oci:/abs/layout:tag`; absent only for a `vm.disk` VM. */
  readonly image?: string;
  /** The manifest digest the control plane pinned `image` to: the task runs exactly that. */
  readonly imageDigest?: string;
  /** Not pinned: reuse the node's copy of `image` (ifNotPresent) or pull it at every start (always). */
  readonly imagePull?: ImagePullPolicy;
  /** Replaces the image's entrypoint + cmd when given (and non-empty). */
  readonly command?: readonly string[];
  /** Added after the image's environment; wins on conflicts. */
  readonly env: Readonly<Record<string, string>>;
  readonly resources: Resources;
  readonly ports: readonly PortMapping[];
  /** Node-local named volumes; they outlive the task. */
  readonly volumes: readonly VolumeMount[];
  readonly stopGracePeriodMs: number;
  /**
   * runtime vm only: the guest's vCPUs and kernel (an absolute path; absent: the host's newest
   * `/boot/vmlinuz-*`). `disk`: boot this disk image (absolute path on the node, qcow2 or raw)
   * through a copy-on-write overlay instead of an OCI image, with `kernel` as the kernel and
   * `cmdline` added to its command line.
   */
  readonly vm?: { readonly vcpus: number; readonly kernel?: string; readonly disk?: string; readonly cmdline?: string };
  /**
   * runtime container only: what the task changes of the hardened defaults (no capabilities, the
   * default seccomp profile, a pids limit, the image's user); absent: nothing. Validation keeps it off VMs.
   */
  readonly securityContext?: SecurityContext;
}

/**
 * What the agent persists in the task's state file to find the task again after a restart.
 * Plain JSON: no class instances, no functions. Produced by `prepare`, accepted by every other
 * method — also by a new driver instance in a new agent process with the same data directory.
 */
export interface TaskHandle {
  /** Name of the driver that prepared the task. */
  readonly driver: string;
  readonly taskId: string;
  readonly service: string;
  /** Directory the driver owns for this task (bundle, rootfs mount, exit file…). */
  readonly dir: string;
  /** CRI-format log file (`<time> <stream> <P|F> <text>` per line). */
  readonly logPath: string;
  /** The image the task runs; absent for a VM booted from a disk image (`vm.disk`). */
  readonly image?: { readonly ref: string; readonly digest: string };
  /** Kept so destroy can run CNI DEL with the same result as ADD, even after a restart. */
  readonly network?: NetworkAttachment;
  readonly stopGracePeriodMs: number;
}

/** What a task is doing now, as the runtime sees it. */
export type RuntimeStatus =
  | { readonly state: 'created' }
  | { readonly state: 'running'; readonly pid: number }
  | { readonly state: 'exited'; readonly exitCode: number }
  | { readonly state: 'gone' };

export type LogStream = 'stdout' | 'stderr';

/** One complete line of task output (partial CRI records already joined). */
export interface LogLine {
  /** RFC 3339 timestamp with nanoseconds, as the shim wrote it. */
  readonly time: string;
  readonly stream: LogStream;
  readonly text: string;
}

export interface LogOptions {
  /** Only the last N lines already written (all when undefined). */
  readonly tail?: number;
  /** Keep yielding new lines until the task stops running or `signal` aborts. */
  readonly follow?: boolean;
  readonly signal?: AbortSignal;
}

/** Resource usage from the task's cgroup (and network namespace), in the units cAdvisor exports. */
export interface TaskStats {
  /** CPU time used by the task's processes (cpuacct.usage / cpu.stat usage_usec), seconds. */
  readonly cpuUsageSeconds: number;
  /** Time its processes were held back by the CPU quota (cpu.stat throttled_time ns / throttled_usec), seconds. */
  readonly cpuThrottledSeconds: number;
  /** CFS quota in microseconds per `cpuPeriodMicros`; undefined when unlimited (v1 cfs_quota_us -1, v2 cpu.max "max"). */
  readonly cpuQuotaMicros?: number;
  readonly cpuPeriodMicros?: number;
  readonly memoryUsageBytes: number;
  /** Usage minus inactive file cache: what the OOM killer looks at. */
  readonly memoryWorkingSetBytes: number;
  /** Anonymous memory (v1 memory.stat total_rss, v2 anon). */
  readonly memoryRssBytes: number;
  /** Undefined when unlimited. */
  readonly memoryLimitBytes?: number;
  readonly pids: number;
  /** Times the kernel's OOM killer killed a process of the task (v1 memory.oom_control oom_kill, v2 memory.events oom_kill). */
  readonly oomKills: number;
  /** Bytes over the task's network interfaces (its own network namespace, loopback excluded); undefined when it shares the host's. */
  readonly network?: { readonly receiveBytes: number; readonly transmitBytes: number };
}

/** Output kept of a command run with `RuntimeDriver.exec` (Docker keeps as much of a health check's). */
export const EXEC_OUTPUT_LIMIT = 4096;

export interface ExecOptions {
  /** Deadline: when it passes the command, and everything it started, is killed. */
  readonly timeoutMs: number;
  /** Aborting kills the command as the deadline would; exec then rejects with the abort reason. */
  readonly signal?: AbortSignal;
}

/** How a command run inside a task ended. */
export interface ExecResult {
  /** The command's exit code (128 + n when a signal ended it); undefined when it timed out. */
  readonly exitCode?: number;
  /** True when the deadline passed first and the command was killed. */
  readonly timedOut: boolean;
  /** stdout and stderr as they came, at most EXEC_OUTPUT_LIMIT bytes (the beginning), trimmed. */
  readonly output: string;
}

/** Rows and columns of an exec's terminal. */
export interface TerminalSize {
  readonly rows: number;
  readonly cols: number;
}

export interface ExecStreamOptions {
  /** Allocates a terminal in the task: stdout then carries everything the command writes, stderr stays empty. */
  readonly tty: boolean;
  /** The terminal's first size (with `tty`); default 24 × 80. */
  readonly size?: TerminalSize;
}

/**
 * A command running inside a task for `berth exec`, with its stdio as streams. Nothing is
 * buffered beyond the operating system's pipes: a reader slower than the command blocks the
 * command, which is what carries back-pressure end to end.
 */
export interface ExecProcess {
  /** The command's stdin; ending it is EOF for the command. */
  readonly stdin: Writable;
  readonly stdout: Readable;
  /** Ends at once, empty, with a tty. */
  readonly stderr: Readable;
  /**
   * The exit code (128 + n when signal n ended it) once the command ended and both output
   * streams were read to their end. A command the task cannot run ends with 126 (not
   * executable) or 127 (not found) and the runtime's explanation on stderr (stdout with a tty).
   */
  readonly exited: Promise<number>;
  /** Resizes the terminal (the command gets SIGWINCH); does nothing without `tty`. */
  resize(size: TerminalSize): Promise<void>;
  /** Kills the command and every process it started; `exited` resolves once they are gone. Idempotent. */
  kill(): Promise<void>;
}

/**
 * A pluggable way to run tasks (runc containers, qemu microVMs, hollow test doubles).
 *
 * Callers: the agent's task runner, one task at a time per handle (methods for different tasks
 * may run concurrently). Every method either does what it says or throws a DomainError whose
 * message names the task and the cause. No method restarts a task: a restart is a new task.
 * Every driver passes `runDriverConformance` (conformance.ts); the hollow driver, which runs no
 * processes, passes all but its isolation checks.
 */
export interface RuntimeDriver {
  readonly name: 'runc' | 'qemu' | 'hollow';
  /**
   * Pulls the image, builds the root filesystem, sets up the network and creates the task
   * without running its process. Idempotent: preparing an already prepared task returns the
   * same handle. On failure everything it set up is removed again before it throws.
   */
  prepare(task: TaskConfig): Promise<TaskHandle>;
  /** Starts the prepared task's process. Throws when the task is not in state `created`. */
  start(h: TaskHandle): Promise<void>;
  /** Resolves with the exit code once the task has exited (at once if it already has). */
  wait(h: TaskHandle, signal?: AbortSignal): Promise<number>;
  /**
   * Asks the task to stop (SIGTERM), waits up to `graceMs`, then kills it (SIGKILL), and resolves
   * once it has exited. A task that is not running is left alone.
   */
  stop(h: TaskHandle, o: { readonly graceMs: number }): Promise<void>;
  /**
   * Kills the task if needed and removes everything prepare made (process, rootfs, network,
   * runtime state, cgroup, task directory). Idempotent: "already gone" is success. Named volumes
   * and the image stay.
   */
  destroy(h: TaskHandle): Promise<void>;
  inspect(h: TaskHandle): Promise<RuntimeStatus>;
  /**
   * Re-adopts a task after an agent restart without disturbing it: `attached` when the runtime
   * still knows it (running, created or exited with a recorded code), `gone` when nothing is left
   * to adopt (the agent then destroys the handle and reports the task lost).
   */
  recover(h: TaskHandle): Promise<'attached' | 'gone'>;
  /**
   * Runs `command` inside the running task — its namespaces, cgroup, root filesystem, user and
   * environment — and resolves once it ended or its deadline passed. When the deadline passes
   * the command and every process it started are killed before exec resolves (`timedOut`), so
   * nothing of it is left running. A command the task's image cannot run resolves with a
   * non-zero exit code and the runtime's explanation as output. Throws when the task is not
   * running. Callers: the agent's health checks.
   */
  exec(h: TaskHandle, command: readonly string[], o: ExecOptions): Promise<ExecResult>;
  /**
   * Starts `command` inside the running task as `exec` does, with its stdio as streams and
   * optionally a terminal, for `berth exec`. Throws when the task is not running, or (a
   * DomainError saying "not supported") when the driver cannot run commands in its tasks.
   * The caller kills the process when its client goes away.
   */
  execStream(h: TaskHandle, command: readonly string[], o: ExecStreamOptions): Promise<ExecProcess>;
  /** The task's output from its log file; see LogOptions for tail and follow. */
  logs(h: TaskHandle, o?: LogOptions): AsyncIterable<LogLine>;
  /** Current usage; throws when the task has no cgroup (not created, or already gone). */
  stats(h: TaskHandle): Promise<TaskStats>;
}

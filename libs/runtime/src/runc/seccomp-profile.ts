/**
 * The seccomp filter of every container task: Docker's default profile in OCI `linux.seccomp`
 * form, written out here as data. A syscall not allowed below fails with EPERM. The rules that
 * depend on a capability follow the task's capabilities, as Docker's do, so adding a capability
 * back also allows the syscalls that need it (`mount` with CAP_SYS_ADMIN). One deliberate
 * difference from older Docker releases: io_uring stays blocked (as in Docker 25 and later), its
 * submissions bypass this filter.
 */

export interface OciSeccomp {
  readonly defaultAction: 'SCMP_ACT_ERRNO';
  readonly defaultErrnoRet: number;
  readonly architectures: readonly string[];
  readonly syscalls: readonly OciSyscallRule[];
}

export interface OciSyscallRule {
  readonly names: readonly string[];
  readonly action: 'SCMP_ACT_ALLOW' | 'SCMP_ACT_ERRNO';
  readonly errnoRet?: number;
  readonly args?: readonly { readonly index: number; readonly value: number; readonly op: 'SCMP_CMP_NE' | 'SCMP_CMP_EQ' | 'SCMP_CMP_MASKED_EQ'; readonly valueTwo?: number }[];
}

const EPERM = 1;
const ENOSYS = 38;
const AF_VSOCK = 40;
/** CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET. */
const CLONE_NAMESPACE_FLAGS = 0x7e020000;
/** PER_LINUX, PER_LINUX32, UNAME26, UNAME26 | PER_LINUX32, and 0xffffffff (only asks for the current persona). */
const PERSONAS = [0x0, 0x8, 0x20000, 0x20008, 0xffffffff] as const;

/** Syscalls every task may make; the kernel's own checks (capabilities, permissions) still apply. */
const ALLOWED: Readonly<Record<string, readonly string[]>> = {
  files: [
    'access', 'chdir', 'chmod', 'chown', 'chown32', 'close', 'close_range', 'copy_file_range', 'creat', 'dup', 'dup2', 'dup3',
    'faccessat', 'faccessat2', 'fadvise64', 'fadvise64_64', 'fallocate', 'fanotify_mark', 'fchdir', 'fchmod', 'fchmodat',
    'fchown', 'fchown32', 'fchownat', 'fcntl', 'fcntl64', 'fdatasync', 'fgetxattr', 'flistxattr', 'flock', 'fremovexattr',
    'fsetxattr', 'fstat', 'fstat64', 'fstatat64', 'fstatfs', 'fstatfs64', 'fsync', 'ftruncate', 'ftruncate64', 'futimesat',
    'getcwd', 'getdents', 'getdents64', 'getxattr', 'inotify_add_watch', 'inotify_init', 'inotify_init1', 'inotify_rm_watch',
    'ioctl', 'lchown', 'lchown32', 'lgetxattr', 'link', 'linkat', 'listxattr', 'llistxattr', '_llseek', 'lremovexattr', 'lseek',
    'lsetxattr', 'lstat', 'lstat64', 'mkdir', 'mkdirat', 'mknod', 'mknodat', 'name_to_handle_at', 'newfstatat', 'open', 'openat',
    'openat2', 'pread64', 'preadv', 'preadv2', 'pwrite64', 'pwritev', 'pwritev2', 'read', 'readahead', 'readlink', 'readlinkat',
    'readv', 'removexattr', 'rename', 'renameat', 'renameat2', 'rmdir', 'sendfile', 'sendfile64', 'setxattr', 'splice', 'stat',
    'stat64', 'statfs', 'statfs64', 'statx', 'symlink', 'symlinkat', 'sync', 'sync_file_range', 'syncfs', 'tee', 'truncate',
    'truncate64', 'umask', 'unlink', 'unlinkat', 'utime', 'utimensat', 'utimensat_time64', 'utimes', 'vmsplice', 'write', 'writev',
    // Newer than runc's libseccomp may know (then left out, and runc answers ENOSYS): glibc falls back on ENOSYS, not on EPERM.
    'fchmodat2',
  ],
  asyncIo: ['io_cancel', 'io_destroy', 'io_getevents', 'io_pgetevents', 'io_pgetevents_time64', 'io_setup', 'io_submit'],
  polling: [
    'epoll_create', 'epoll_create1', 'epoll_ctl', 'epoll_ctl_old', 'epoll_pwait', 'epoll_pwait2', 'epoll_wait', 'epoll_wait_old',
    'eventfd', 'eventfd2', '_newselect', 'poll', 'ppoll', 'ppoll_time64', 'pselect6', 'pselect6_time64', 'select',
  ],
  memory: [
    'brk', 'madvise', 'membarrier', 'memfd_create', 'memfd_secret', 'mincore', 'mlock', 'mlock2', 'mlockall', 'mmap', 'mmap2',
    'mprotect', 'mremap', 'msync', 'munlock', 'munlockall', 'munmap', 'pkey_alloc', 'pkey_free', 'pkey_mprotect', 'remap_file_pages',
    'map_shadow_stack',
  ],
  processes: [
    'capget', 'capset', 'execve', 'execveat', 'exit', 'exit_group', 'fork', 'getcpu', 'getegid', 'getegid32', 'geteuid',
    'geteuid32', 'getgid', 'getgid32', 'getgroups', 'getgroups32', 'getpgid', 'getpgrp', 'getpid', 'getppid', 'getpriority',
    'getresgid', 'getresgid32', 'getresuid', 'getresuid32', 'getrlimit', 'get_robust_list', 'getrusage', 'getsid',
    'get_thread_area', 'gettid', 'getuid', 'getuid32', 'ioprio_get', 'ioprio_set', 'landlock_add_rule', 'landlock_create_ruleset',
    'landlock_restrict_self', 'pidfd_open', 'pidfd_send_signal', 'prctl', 'prlimit64', 'process_mrelease', 'restart_syscall',
    'rseq', 'sched_getaffinity', 'sched_getattr', 'sched_getparam', 'sched_get_priority_max', 'sched_get_priority_min',
    'sched_getscheduler', 'sched_rr_get_interval', 'sched_rr_get_interval_time64', 'sched_setaffinity', 'sched_setattr',
    'sched_setparam', 'sched_setscheduler', 'sched_yield', 'seccomp', 'setfsgid', 'setfsgid32', 'setfsuid', 'setfsuid32',
    'setgid', 'setgid32', 'setgroups', 'setgroups32', 'setpgid', 'setpriority', 'setregid', 'setregid32', 'setresgid',
    'setresgid32', 'setresuid', 'setresuid32', 'setreuid', 'setreuid32', 'setrlimit', 'set_robust_list', 'setsid',
    'set_thread_area', 'set_tid_address', 'setuid', 'setuid32', 'sysinfo', 'ugetrlimit', 'uname', 'vfork', 'wait4', 'waitid',
    'waitpid',
    // Docker allows these from kernel 4.8 on, where seccomp filters can no longer be bypassed through ptrace.
    'ptrace', 'process_vm_readv', 'process_vm_writev',
  ],
  signals: [
    'alarm', 'getitimer', 'kill', 'pause', 'rt_sigaction', 'rt_sigpending', 'rt_sigprocmask', 'rt_sigqueueinfo', 'rt_sigreturn',
    'rt_sigsuspend', 'rt_sigtimedwait', 'rt_sigtimedwait_time64', 'rt_tgsigqueueinfo', 'setitimer', 'sigaltstack', 'signalfd',
    'signalfd4', 'sigprocmask', 'sigreturn', 'tgkill', 'tkill',
  ],
  time: [
    'adjtimex', 'clock_adjtime', 'clock_adjtime64', 'clock_getres', 'clock_getres_time64', 'clock_gettime', 'clock_gettime64',
    'clock_nanosleep', 'clock_nanosleep_time64', 'gettimeofday', 'nanosleep', 'time', 'timer_create', 'timer_delete',
    'timer_getoverrun', 'timer_gettime', 'timer_gettime64', 'timer_settime', 'timer_settime64', 'timerfd_create', 'timerfd_gettime',
    'timerfd_gettime64', 'timerfd_settime', 'timerfd_settime64', 'times',
  ],
  sync: ['futex', 'futex_time64', 'futex_waitv', 'getrandom'],
  network: [
    'accept', 'accept4', 'bind', 'connect', 'getpeername', 'getsockname', 'getsockopt', 'listen', 'recv', 'recvfrom', 'recvmmsg',
    'recvmmsg_time64', 'recvmsg', 'send', 'sendmmsg', 'sendmsg', 'sendto', 'setsockopt', 'shutdown', 'socketcall', 'socketpair',
  ],
  ipc: [
    'ipc', 'mq_getsetattr', 'mq_notify', 'mq_open', 'mq_timedreceive', 'mq_timedreceive_time64', 'mq_timedsend',
    'mq_timedsend_time64', 'mq_unlink', 'msgctl', 'msgget', 'msgrcv', 'msgsnd', 'pipe', 'pipe2', 'semctl', 'semget', 'semop',
    'semtimedop', 'semtimedop_time64', 'shmat', 'shmctl', 'shmdt', 'shmget',
  ],
};

/** Syscalls only one architecture family has or needs, by Node's `process.arch`. */
const ARCH: Readonly<Record<string, { readonly architectures: readonly string[]; readonly syscalls: readonly string[] }>> = {
  x64: { architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'], syscalls: ['arch_prctl', 'modify_ldt'] },
  arm64: {
    architectures: ['SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM'],
    syscalls: ['arm_fadvise64_64', 'arm_sync_file_range', 'sync_file_range2', 'breakpoint', 'cacheflush', 'set_tls'],
  },
};

/** Syscalls allowed only to a task that holds the capability (each is refused by the kernel without it anyway). */
const BY_CAPABILITY: Readonly<Record<string, readonly string[]>> = {
  CAP_SYS_ADMIN: [
    'bpf', 'clone', 'clone3', 'fanotify_init', 'fsconfig', 'fsmount', 'fsopen', 'fspick', 'lookup_dcookie', 'mount', 'mount_setattr',
    'move_mount', 'open_tree', 'perf_event_open', 'quotactl', 'quotactl_fd', 'setdomainname', 'sethostname', 'setns', 'syslog',
    'umount', 'umount2', 'unshare',
  ],
  CAP_DAC_READ_SEARCH: ['open_by_handle_at'],
  CAP_SYS_BOOT: ['reboot'],
  CAP_SYS_CHROOT: ['chroot'],
  CAP_SYS_MODULE: ['delete_module', 'init_module', 'finit_module'],
  CAP_SYS_PACCT: ['acct'],
  CAP_SYS_PTRACE: ['kcmp', 'pidfd_getfd', 'process_madvise'],
  CAP_SYS_RAWIO: ['iopl', 'ioperm'],
  CAP_SYS_TIME: ['settimeofday', 'stime', 'clock_settime', 'clock_settime64'],
  CAP_SYS_TTY_CONFIG: ['vhangup'],
  CAP_SYS_NICE: ['get_mempolicy', 'mbind', 'set_mempolicy', 'set_mempolicy_home_node'],
  CAP_SYSLOG: ['syslog'],
  CAP_BPF: ['bpf'],
  CAP_PERFMON: ['perf_event_open'],
};

/** Every syscall a task without capabilities may make unconditionally, sorted (for tests and docs). */
export function alwaysAllowed(): string[] {
  return Object.values(ALLOWED).flat().sort();
}

/**
 * The filter for a task holding `capabilities` (`CAP_`-prefixed) on a node of `arch`
 * (`process.arch`). Pure. An architecture without an entry gets the native one only.
 */
export function seccompProfile(capabilities: readonly string[], arch: string): OciSeccomp {
  const held = new Set(capabilities);
  const native = ARCH[arch];
  const byCapability = [...new Set(Object.entries(BY_CAPABILITY).flatMap(([cap, names]) => (held.has(cap) ? names : [])))].sort();
  const rules: OciSyscallRule[] = [
    { names: [...alwaysAllowed(), ...(native?.syscalls ?? [])], action: 'SCMP_ACT_ALLOW' },
    // vsock sockets reach the host's hypervisor interface; every other family is fine.
    { names: ['socket'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: AF_VSOCK, op: 'SCMP_CMP_NE' }] },
    ...PERSONAS.map((p): OciSyscallRule => ({ names: ['personality'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: p, op: 'SCMP_CMP_EQ' }] })),
    ...(byCapability.length > 0 ? [{ names: byCapability, action: 'SCMP_ACT_ALLOW' as const }] : []),
  ];
  if (!held.has('CAP_SYS_ADMIN')) {
    // Threads and fork without new namespaces; clone3 cannot be inspected (its flags sit in a
    // struct), so it says "not implemented" and libc falls back to clone.
    rules.push(
      { names: ['clone'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: CLONE_NAMESPACE_FLAGS, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }] },
      { names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: ENOSYS },
    );
  }
  return { defaultAction: 'SCMP_ACT_ERRNO', defaultErrnoRet: EPERM, architectures: native?.architectures ?? [], syscalls: rules };
}

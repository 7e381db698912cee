import { LINUX_CAPABILITIES } from '@berth/core';
import { describe, expect, it } from 'vitest';
import { alwaysAllowed, seccompProfile, type OciSyscallRule } from './seccomp-profile';

/** Names a rule allows whatever the arguments. */
const unconditional = (rules: readonly OciSyscallRule[]): Set<string> =>
  new Set(rules.filter((r) => r.action === 'SCMP_ACT_ALLOW' && !r.args).flatMap((r) => r.names));

describe('default seccomp profile', () => {
  const profile = seccompProfile([], 'x64');
  const allowed = unconditional(profile.syscalls);

  it('denies with EPERM by default on x86_64, x86 and x32; aarch64 with arm; elsewhere the native arch only', () => {
    expect(profile).toMatchObject({ defaultAction: 'SCMP_ACT_ERRNO', defaultErrnoRet: 1, architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'] });
    expect(seccompProfile([], 'arm64').architectures).toEqual(['SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM']);
    expect(seccompProfile([], 'riscv64').architectures).toEqual([]);
  });

  it('is the profile reviewed last (a change of the data shows here)', () => {
    expect(profile).toMatchSnapshot();
  });

  it('is well-formed: every rule names syscalls, no name twice in the always-allowed list', () => {
    const names = alwaysAllowed();
    expect(new Set(names).size).toBe(names.length);
    expect(names.length).toBeGreaterThan(300);
    for (const rule of profile.syscalls) {
      expect(rule.names.length).toBeGreaterThan(0);
      for (const n of rule.names) expect(n).toMatch(/^_?[a-z0-9_]+$/);
      for (const a of rule.args ?? []) expect(a.index).toBeLessThan(6);
    }
  });

  it.each([
    'unshare', 'setns', 'mount', 'umount2', 'keyctl', 'add_key', 'request_key', 'userfaultfd', 'io_uring_setup', 'io_uring_enter',
    'kexec_load', 'kexec_file_load', 'bpf', 'perf_event_open', 'init_module', 'reboot', 'swapon', 'chroot', 'open_by_handle_at',
  ])('blocks %s without capabilities', (name) => {
    expect(allowed.has(name)).toBe(false);
  });

  it.each(['read', 'write', 'openat', 'execve', 'fork', 'vfork', 'wait4', 'futex', 'epoll_wait', 'accept4', 'bind', 'listen', 'mmap', 'nanosleep', 'arch_prctl', 'rt_sigreturn', 'setuid', 'getrandom', 'statx', 'ptrace'])(
    'allows %s, which ordinary programs need',
    (name) => {
      expect(allowed.has(name)).toBe(true);
    },
  );

  it('allows clone only without namespace flags, answers clone3 with ENOSYS, and socket for every family but vsock', () => {
    expect(profile.syscalls.filter((r) => r.names.includes('clone'))).toEqual([
      { names: ['clone'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 0x7e020000, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }] },
    ]);
    expect(profile.syscalls.filter((r) => r.names.includes('clone3'))).toEqual([{ names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: 38 }]);
    expect(profile.syscalls.filter((r) => r.names.includes('socket'))).toEqual([{ names: ['socket'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 40, op: 'SCMP_CMP_NE' }] }]);
    expect(profile.syscalls.filter((r) => r.names.includes('personality')).map((r) => r.args?.[0]?.value)).toEqual([0, 8, 0x20000, 0x20008, 0xffffffff]);
  });

  it('follows the capabilities: CAP_SYS_ADMIN allows mount, unshare and any clone', () => {
    const admin = seccompProfile(['CAP_SYS_ADMIN'], 'x64');
    const names = unconditional(admin.syscalls);
    for (const n of ['mount', 'unshare', 'setns', 'clone', 'clone3']) expect(names.has(n)).toBe(true);
    expect(admin.syscalls.some((r) => r.action === 'SCMP_ACT_ERRNO')).toBe(false);
    expect(unconditional(seccompProfile(['CAP_SYS_TIME'], 'x64').syscalls).has('clock_settime')).toBe(true);
    expect(unconditional(seccompProfile(['CAP_NET_BIND_SERVICE'], 'x64').syscalls)).toEqual(allowed);
  });

  it('never allows keyrings, userfaultfd, io_uring or kexec, whatever the capabilities', () => {
    const all = unconditional(seccompProfile([...LINUX_CAPABILITIES], 'x64').syscalls);
    for (const n of ['keyctl', 'add_key', 'request_key', 'userfaultfd', 'io_uring_setup', 'kexec_load']) expect(all.has(n)).toBe(false);
  });
});

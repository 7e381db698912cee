import { describe, expect, it } from 'vitest';
import type { TaskConfig } from '../driver';
import { TaskSpecError } from '../errors';
import { parseImageConfig } from '../images/image-config';
import { toOciSpec, type SpecContext } from './oci-spec';
import { seccompProfile } from './seccomp-profile';

const task = (over: Partial<TaskConfig> = {}): TaskConfig => ({
  taskId: 'web.1.abc123',
  service: 'web',
  runtime: 'container',
  image: '127.0.0.1:5000/busybox:1',
  env: {},
  resources: {},
  ports: [],
  volumes: [],
  stopGracePeriodMs: 10_000,
  ...over,
});

const image = parseImageConfig({
  config: { Entrypoint: ['/bin/httpd'], Cmd: ['-f', '-p', '80'], Env: ['PATH=/bin', 'MODE=image', 'KEEP=1'], WorkingDir: '/srv' },
});

const ctx: SpecContext = {
  rootfs: '/var/lib/berth/tasks/web.1.abc123/rootfs',
  netnsPath: '/run/netns/berth-web.1.abc123',
  cgroupsPath: '/berth/node-a/web.1.abc123',
  volumesDir: '/var/lib/berth/volumes',
  user: { uid: 0, gid: 0 },
  arch: 'x64',
};

describe('toOciSpec', () => {
  it('produces the full hardened config for a typical task', () => {
    const spec = toOciSpec(
      task({ env: { MODE: 'task' }, resources: { cpuMillis: 500, memoryBytes: 64 * 1024 * 1024, pids: 256 }, volumes: [{ name: 'data', mountPath: '/data' }] }),
      image,
      ctx,
    );
    // The filter has a snapshot of its own (seccomp-profile.spec.ts).
    expect(spec.linux.seccomp).toEqual(seccompProfile([], 'x64'));
    expect({ ...spec, linux: { ...spec.linux, seccomp: 'seccompProfile([], "x64")' } }).toMatchSnapshot();
  });

  it('runs the task command instead of entrypoint + cmd when given', () => {
    expect(toOciSpec(task({ command: ['sh', '-c', 'echo hi'] }), image, ctx).process.args).toEqual(['sh', '-c', 'echo hi']);
    expect(toOciSpec(task(), image, ctx).process.args).toEqual(['/bin/httpd', '-f', '-p', '80']);
    expect(toOciSpec(task({ command: [] }), image, ctx).process.args).toEqual(['/bin/httpd', '-f', '-p', '80']);
  });

  it('refuses a task with nothing to run', () => {
    const empty = parseImageConfig({ config: {} });
    expect(() => toOciSpec(task(), empty, ctx)).toThrow(TaskSpecError);
    expect(() => toOciSpec(task(), empty, ctx)).toThrow(/has no entrypoint or cmd/);
  });

  it('layers env: image, then HOSTNAME, then the task (task wins)', () => {
    const env = toOciSpec(task({ env: { MODE: 'task', EXTRA: 'x' } }), image, ctx).process.env;
    expect(env).toEqual(['PATH=/bin', 'MODE=task', 'KEEP=1', 'HOSTNAME=web.1.abc123', 'EXTRA=x']);
  });

  it('turns millicores into quota per 100 ms period, and memory into a no-swap limit', () => {
    const res = (r: TaskConfig['resources']) => toOciSpec(task({ resources: r }), image, ctx).linux.resources;
    expect(res({ cpuMillis: 250 }).cpu).toEqual({ quota: 25_000, period: 100_000, shares: 256 });
    expect(res({ cpuMillis: 2000 }).cpu).toEqual({ quota: 200_000, period: 100_000, shares: 2048 });
    expect(res({ cpuMillis: 1 }).cpu).toEqual({ quota: 1000, period: 100_000, shares: 2 });
    expect(res({ memoryBytes: 1 << 30 }).memory).toEqual({ limit: 1 << 30, swap: 1 << 30 });
    expect(res({ pids: 10 }).pids).toEqual({ limit: 10 });
    expect(res({})).toEqual({ devices: [{ allow: false, access: 'rwm' }], pids: { limit: 4096 } });
  });

  it('keeps the hardened defaults and the task identity', () => {
    const spec = toOciSpec(task(), image, ctx);
    expect(spec.process.capabilities).toEqual({ bounding: [], effective: [], permitted: [], inheritable: [], ambient: [] });
    expect(spec.process.noNewPrivileges).toBe(true);
    expect(spec.linux.maskedPaths).toEqual(
      expect.arrayContaining(['/proc/acpi', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list', '/proc/timer_stats', '/proc/sched_debug', '/proc/scsi', '/sys/firmware', '/sys/devices/virtual/powercap']),
    );
    expect(spec.linux.readonlyPaths).toEqual(['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger']);
    expect(spec.mounts.find((m) => m.destination === '/sys')?.options).toContain('ro');
    expect(spec.hostname).toBe('web.1.abc123');
    expect(spec.process.cwd).toBe('/srv');
    expect(spec.linux.namespaces.map((n) => n.type)).toEqual(['pid', 'network', 'ipc', 'uts', 'mount', 'cgroup']);
    expect(spec.linux.namespaces[1]).toEqual({ type: 'network', path: '/run/netns/berth-web.1.abc123' });
    expect(spec.linux.sysctl).toEqual({ 'net.ipv4.ip_unprivileged_port_start': '0' });
    expect(spec.linux.seccomp).toMatchObject({ defaultAction: 'SCMP_ACT_ERRNO', defaultErrnoRet: 1, architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'] });
    expect(spec.root.readonly).toBe(false);
    expect(spec.mounts.map((m) => m.destination)).not.toContain('/tmp');
  });

  it('gives added capabilities in every set, and lets the seccomp filter follow them', () => {
    const spec = toOciSpec(task({ securityContext: { addCapabilities: ['CAP_NET_BIND_SERVICE', 'CAP_SYS_ADMIN'] } }), image, ctx);
    const caps = ['CAP_NET_BIND_SERVICE', 'CAP_SYS_ADMIN'];
    expect(spec.process.capabilities).toEqual({ bounding: caps, effective: caps, permitted: caps, inheritable: caps, ambient: caps });
    const allowed = spec.linux.seccomp!.syscalls.filter((r) => r.action === 'SCMP_ACT_ALLOW' && !r.args).flatMap((r) => r.names);
    expect(allowed).toContain('mount');
    expect(spec.linux.seccomp!.syscalls.find((r) => r.names.includes('clone3'))?.action).toBe('SCMP_ACT_ALLOW');
  });

  it('gives a privileged task every capability, escalation, no seccomp filter, nothing masked, the host /dev and a writable /sys, in its own namespaces', () => {
    const spec = toOciSpec(task({ securityContext: { privileged: true } }), image, ctx);
    expect(spec.process.capabilities.bounding).toHaveLength(41);
    expect(spec.process.capabilities.effective).toContain('CAP_SYS_ADMIN');
    expect(spec.process.noNewPrivileges).toBe(false);
    expect(spec.linux.seccomp).toBeUndefined();
    expect(spec.linux.maskedPaths).toEqual([]);
    expect(spec.linux.readonlyPaths).toEqual([]);
    expect(spec.linux.resources.devices).toEqual([{ allow: true, access: 'rwm' }]);
    expect(spec.mounts.find((m) => m.destination === '/dev')).toEqual({ destination: '/dev', type: 'bind', source: '/dev', options: ['rbind', 'nosuid'] });
    expect(spec.mounts.find((m) => m.destination === '/dev/pts')?.type).toBe('devpts');
    expect(spec.mounts.find((m) => m.destination === '/sys')?.options).not.toContain('ro');
    expect(spec.linux.namespaces.map((n) => n.type)).toEqual(['pid', 'network', 'ipc', 'uts', 'mount', 'cgroup']);
    expect(spec.linux.resources.pids).toEqual({ limit: 4096 });
    // Never more than the agent holds: runc cannot hand out a capability outside its own bounding set.
    const held = toOciSpec(task({ securityContext: { privileged: true } }), image, { ...ctx, boundingCapabilities: ['CAP_CHOWN', 'CAP_SYS_ADMIN'] });
    expect(held.process.capabilities.effective).toEqual(['CAP_CHOWN', 'CAP_SYS_ADMIN']);
  });

  it('makes the root read-only with a size-bounded writable /tmp; volumes stay writable', () => {
    const spec = toOciSpec(task({ securityContext: { readOnlyRootFilesystem: true }, volumes: [{ name: 'data', mountPath: '/data' }] }), image, ctx);
    expect(spec.root.readonly).toBe(true);
    expect(spec.mounts.find((m) => m.destination === '/tmp')).toEqual({ destination: '/tmp', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'mode=1777', 'size=65536k'] });
    expect(spec.mounts.find((m) => m.destination === '/data')?.options).toContain('rw');
  });

  it('in a user namespace: maps 65536 ids from the node base, binds the host /sys, leaves the CNI netns sysctl to the driver', () => {
    const userns = { base: 0x7000_0000, size: 65536 };
    const plain = toOciSpec(task(), image, ctx);
    const spec = toOciSpec(task({ securityContext: { userNamespace: true, readOnlyRootFilesystem: true } }), image, { ...ctx, userNamespace: userns });
    expect(spec.linux.namespaces.map((n) => n.type)).toEqual(['pid', 'network', 'ipc', 'uts', 'mount', 'cgroup', 'user']);
    expect(spec.linux.uidMappings).toEqual([{ containerID: 0, hostID: 0x7000_0000, size: 65536 }]);
    expect(spec.linux.gidMappings).toEqual(spec.linux.uidMappings);
    expect(spec.mounts.find((m) => m.destination === '/sys')).toEqual({ destination: '/sys', type: 'bind', source: '/sys', options: ['rbind', 'nosuid', 'noexec', 'nodev', 'rro'] });
    // Everything else stays as hardened as without it; capabilities now count inside the namespace.
    expect(spec.mounts.filter((m) => m.destination !== '/sys' && m.destination !== '/tmp')).toEqual(plain.mounts.filter((m) => m.destination !== '/sys'));
    expect(spec.process).toEqual(plain.process);
    expect(spec.root.readonly).toBe(true);
    expect({ ...spec.linux, namespaces: [], uidMappings: [], gidMappings: [], sysctl: {} }).toEqual({ ...plain.linux, namespaces: [], uidMappings: [], gidMappings: [], sysctl: {} });
    expect(spec.linux.sysctl).toEqual({});
    // A network namespace runc makes itself belongs to the task's user namespace: runc may set it there.
    const { netnsPath: _, ...noNetns } = ctx;
    expect(toOciSpec(task({ securityContext: { userNamespace: true } }), image, { ...noNetns, userNamespace: userns }).linux.sysctl).toEqual({ 'net.ipv4.ip_unprivileged_port_start': '0' });
    expect(plain.linux.uidMappings).toBeUndefined();
    expect(plain.linux.namespaces.map((n) => n.type)).not.toContain('user');
  });

  it('runs as the user it is given (the driver resolves runAsUser / runAsGroup into it)', () => {
    expect(toOciSpec(task(), image, { ...ctx, user: { uid: 1000, gid: 100 } }).process.user).toEqual({ uid: 1000, gid: 100 });
  });

  it('bind-mounts named volumes from the volumes dir and rejects unsafe names or relative paths', () => {
    const spec = toOciSpec(task({ volumes: [{ name: 'data', mountPath: '/var/data/' }] }), image, ctx);
    expect(spec.mounts.at(-1)).toEqual({ destination: '/var/data/', type: 'bind', source: '/var/lib/berth/volumes/data', options: ['rbind', 'rw', 'nosuid', 'nodev'] });
    expect(() => toOciSpec(task({ volumes: [{ name: '../etc', mountPath: '/x' }] }), image, ctx)).toThrow(/volume name/);
    expect(() => toOciSpec(task({ volumes: [{ name: 'data', mountPath: 'rel' }] }), image, ctx)).toThrow(/must be absolute/);
  });
});

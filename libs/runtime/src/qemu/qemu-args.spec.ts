import { describe, expect, it } from 'vitest';
import { accelArgs, DEFAULT_VM_MEMORY_MIB, guestMemoryMiB, MIN_VM_MEMORY_MIB, QEMU_MEMORY_OVERHEAD_MIB, qemuArgs, vmMemoryLimitBytes, type VmLaunch } from './qemu-args';
import { EXEC_SLOTS } from './guest-protocol';
import { vmPaths } from './vm-paths';

const MiB = 1024 * 1024;

describe('guest memory', () => {
  it('is the task limit in MiB rounded up, at least MIN_VM_MEMORY_MIB, DEFAULT_VM_MEMORY_MIB without a limit', () => {
    expect(guestMemoryMiB(undefined)).toBe(DEFAULT_VM_MEMORY_MIB);
    expect(guestMemoryMiB(64 * MiB)).toBe(MIN_VM_MEMORY_MIB);
    expect(guestMemoryMiB(200 * MiB)).toBe(200);
    expect(guestMemoryMiB(200 * MiB + 1)).toBe(201);
  });

  it("puts QEMU's overhead on top for the VM's cgroup limit", () => {
    expect(vmMemoryLimitBytes(64 * MiB)).toBe((MIN_VM_MEMORY_MIB + QEMU_MEMORY_OVERHEAD_MIB) * MiB);
    expect(vmMemoryLimitBytes(undefined)).toBe((DEFAULT_VM_MEMORY_MIB + QEMU_MEMORY_OVERHEAD_MIB) * MiB);
  });
});

describe('qemuArgs', () => {
  const p = vmPaths('/var/lib/berth', 'web.1.abc');
  const launch: VmLaunch = {
    taskId: 'web.1.abc',
    kernel: '/boot/vmlinuz-6.1.0-9-amd64',
    initrd: '/var/lib/berth/qemu/initramfs.cpio',
    append: 'console=ttyS0 quiet',
    memoryMiB: 256,
    vcpus: 2,
    accel: 'tcg',
  };
  const value = (args: string[], flag: string): string[] => args.flatMap((a, i) => (args[i - 1] === flag ? [a] : []));

  it('boots a daemonized microvm of the launch size under TCG with a bounded translation cache', () => {
    const args = qemuArgs(p, launch);
    expect(value(args, '-M')).toEqual(['microvm,acpi=on,pcie=on']);
    expect(value(args, '-accel')).toEqual(['tcg,tb-size=32']);
    expect(value(args, '-m')).toEqual(['256']);
    expect(value(args, '-smp')).toEqual(['2']);
    expect(value(args, '-kernel')).toEqual([launch.kernel]);
    expect(value(args, '-pidfile')).toEqual([p.pidFile]);
    expect(args.at(-1)).toBe('-daemonize');
    expect(args).not.toContain('-netdev');
  });

  it('uses plain -accel kvm under KVM, with no host CPU model', () => {
    const args = qemuArgs(p, { ...launch, accel: 'kvm' });
    expect(value(args, '-accel')).toEqual(['kvm']);
    expect(args).not.toContain('-cpu');
    expect(accelArgs('kvm')).toEqual(['-accel', 'kvm']);
  });

  it('exports the rootfs and the task share over 9p, doubling commas in paths', () => {
    const args = qemuArgs(vmPaths('/data,x', 'web.1.abc'), launch);
    expect(value(args, '-fsdev')).toEqual([
      'local,id=fs0,path=/data,,x/tasks/web.1.abc/rootfs,security_model=none,multidevs=remap',
      'local,id=fs1,path=/data,,x/tasks/web.1.abc/share,security_model=none',
    ]);
  });

  it('gives each exec slot its in, out and err ports as sockets in the task dir, on a PCI serial controller of their own', () => {
    const args = qemuArgs(p, launch);
    expect(args).toContain('virtio-serial-pci,id=exec');
    const ports = value(args, '-device').filter((d) => d.includes('bus=exec.0'));
    expect(ports).toHaveLength(EXEC_SLOTS * 3);
    expect(ports[0]).toBe('virtserialport,bus=exec.0,chardev=x0in,name=berth.exec.0.in');
    expect(value(args, '-chardev')).toContain(`socket,id=x3err,path=${p.dir}/exec-3-err.sock,server=on,wait=off`);
    expect(p.execSlots[3]!.sockets.err).toBe(`${p.dir}/exec-3-err.sock`);
  });

  it("plugs the guest NIC into the task namespace's tap with the guest MAC", () => {
    const args = qemuArgs(p, { ...launch, network: { netnsPath: '/run/netns/x', tap: 'tap0', mac: '02:00:00:00:00:01' } });
    expect(value(args, '-netdev')).toEqual(['tap,id=n0,ifname=tap0,script=no,downscript=no']);
    expect(args).toContain('virtio-net-device,netdev=n0,mac=02:00:00:00:00:01');
  });

  it('boots a vm.disk VM from its qcow2 overlay on virtio-blk, with no 9p, no berth ports and the same console, QMP and NIC', () => {
    const args = qemuArgs(p, { ...launch, disk: p.disk, network: { netnsPath: '/run/netns/x', tap: 'tap0', mac: '02:00:00:00:00:01' } });
    expect(value(args, '-M')).toEqual(['microvm,acpi=on,pcie=on']);
    expect(value(args, '-drive')).toEqual([`file=${p.dir}/disk.qcow2,format=qcow2,if=none,id=d0`]);
    expect(value(args, '-device')).toEqual(['virtio-blk-device,drive=d0', 'virtio-net-device,netdev=n0,mac=02:00:00:00:00:01']);
    expect(args).not.toContain('-fsdev');
    expect(args).not.toContain('-chardev');
    expect(value(args, '-serial')).toEqual([`file:${p.console}`]);
    expect(value(args, '-qmp')).toEqual([`unix:${p.qmp},server=on,wait=off`]);
    expect(value(args, '-kernel')).toEqual([launch.kernel]);
    expect(args).toContain('-no-reboot');
    expect(args.at(-1)).toBe('-daemonize');
  });

  it('boots a vm.disk VM without a kernel as a PC through its firmware: disk and NIC on PCI, no kernel, no NIC option ROM', () => {
    const { kernel: _k, initrd: _i, append: _a, ...sized } = launch;
    const args = qemuArgs(p, { ...sized, disk: p.disk, network: { netnsPath: '/run/netns/x', tap: 'tap0', mac: '02:00:00:00:00:01' } });
    expect(value(args, '-M')).toEqual(['q35']);
    expect(value(args, '-drive')).toEqual([`file=${p.dir}/disk.qcow2,format=qcow2,if=none,id=d0`]);
    expect(value(args, '-device')).toEqual(['virtio-blk-pci,drive=d0,bootindex=0', 'virtio-net-pci,netdev=n0,mac=02:00:00:00:00:01,romfile=']);
    for (const flag of ['-kernel', '-initrd', '-append', '-fsdev', '-chardev']) expect(args).not.toContain(flag);
    expect(value(args, '-m')).toEqual([String(launch.memoryMiB)]);
    expect(value(args, '-serial')).toEqual([`file:${p.console}`]);
    expect(value(args, '-qmp')).toEqual([`unix:${p.qmp},server=on,wait=off`]);
    expect(args).toContain('-no-reboot');
    expect(args.at(-1)).toBe('-daemonize');
  });

  it('refuses to build a microVM without a kernel to boot', () => {
    const { kernel: _k, ...noKernel } = launch;
    expect(() => qemuArgs(p, noKernel)).toThrow(/a microVM needs a kernel, an initramfs and a command line/);
  });
});

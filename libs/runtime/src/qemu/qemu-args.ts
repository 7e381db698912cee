import { EXEC_STREAMS, execPortName, GUEST_PORTS, GUEST_SHARES } from './guest-protocol';
import type { VmPaths } from './vm-paths';

/** Guest RAM when the task sets no memory limit, and the least any VM gets (kernel + initramfs). */
export const DEFAULT_VM_MEMORY_MIB = 256;
export const MIN_VM_MEMORY_MIB = 128;
/**
 * What QEMU itself needs besides the guest's RAM (device model, TCG translation cache, 9p and
 * virtio buffers): the VM's cgroup memory limit is guest RAM + this.
 */
export const QEMU_MEMORY_OVERHEAD_MIB = 64;
/** TCG translation cache, MiB: QEMU's default (1 GiB) would not fit the overhead above. */
const TCG_CACHE_MIB = 32;
const MiB = 1024 * 1024;

/** How QEMU runs guest code: hardware virtualisation, or TCG's binary translation (slow, works anywhere). */
export type Accel = 'kvm' | 'tcg';

/** How to boot one VM: decided at prepare, read by start (and by whoever adopts the VM). Plain JSON. */
export interface VmLaunch {
  readonly taskId: string;
  /**
   * Direct kernel boot: the kernel, initramfs and command line QEMU loads. Absent only for a
   * `vm.disk` VM without `vm.kernel`, which firmware boots through the disk's own bootloader.
   */
  readonly kernel?: string;
  readonly initrd?: string;
  readonly append?: string;
  readonly memoryMiB: number;
  readonly vcpus: number;
  readonly cpuMillis?: number;
  /** What the node's acceleration probe had answered when the task was prepared (TCG until it has). */
  readonly accel: Accel;
  /** QEMU runs in the task's network namespace and plugs the guest's NIC into its tap. */
  readonly network?: { readonly netnsPath: string; readonly tap: string; readonly mac: string };
  /** `vm.disk` VMs: the task's copy-on-write overlay (qcow2) of the disk, the guest's only disk; no 9p, no berth ports. */
  readonly disk?: string;
}

/** Guest RAM for a task's memory limit: MiB rounded up, at least MIN_VM_MEMORY_MIB. Pure. */
export function guestMemoryMiB(memoryBytes: number | undefined): number {
  return memoryBytes === undefined ? DEFAULT_VM_MEMORY_MIB : Math.max(MIN_VM_MEMORY_MIB, Math.ceil(memoryBytes / MiB));
}

/** The memory limit of a VM's cgroup for a task's memory limit: its guest RAM + QEMU_MEMORY_OVERHEAD_MIB, in bytes. Pure. */
export function vmMemoryLimitBytes(memoryBytes: number | undefined): number {
  return (guestMemoryMiB(memoryBytes) + QEMU_MEMORY_OVERHEAD_MIB) * MiB;
}

/** `-accel` for QEMU. Under KVM the guest sees QEMU's default CPU model, as under TCG (no `-cpu host`). Pure. */
export function accelArgs(accel: Accel): string[] {
  return ['-accel', accel === 'kvm' ? 'kvm' : `tcg,tb-size=${TCG_CACHE_MIB}`];
}

/** `s` as a value inside a QEMU option list, where "," must be doubled. Pure. */
export function qemuOptionValue(s: string): string {
  return s.replace(/,/g, ',,');
}

/**
 * QEMU's arguments for one VM. Pure. A microVM (under KVM or TCG, as `l.accel` says) with no
 * default devices; the root filesystem and the task share come over virtio-9p; status, log and
 * control are virtio-serial ports. The exec slots' ports sit on a virtio-serial controller on PCI
 * (`pcie=on`): QEMU's virtio-mmio offers 1024-entry queues, for which the guest's driver keeps
 * 4 MiB of receive buffers per port; on PCI a port's queue has 128 entries (~0.5 MiB).
 * `-daemonize` detaches QEMU from the agent, so a VM outlives an agent restart; the new agent
 * finds it again by pid file and command line.
 */
export function qemuArgs(p: VmPaths, l: VmLaunch): string[] {
  if (l.disk) return l.kernel ? diskVmArgs(p, l, l.disk) : firmwareVmArgs(p, l, l.disk);
  const opt = qemuOptionValue;
  const port = (id: string, name: string): string[] => ['-device', `virtserialport,chardev=${id},name=${name}`];
  return [
    ...machineArgs(l),
    // remap: volumes are bind mounts inside the rootfs, so the export spans several host devices.
    ...['-fsdev', `local,id=fs0,path=${opt(p.rootfs)},security_model=none,multidevs=remap`],
    ...['-device', `virtio-9p-device,fsdev=fs0,mount_tag=${GUEST_SHARES.rootfs}`],
    ...['-fsdev', `local,id=fs1,path=${opt(p.share)},security_model=none`],
    ...['-device', `virtio-9p-device,fsdev=fs1,mount_tag=${GUEST_SHARES.task}`],
    ...['-device', 'virtio-serial-device'],
    ...['-chardev', `file,id=st,path=${opt(p.status)}`, ...port('st', GUEST_PORTS.status)],
    ...['-chardev', `file,id=lg,path=${opt(p.logPath)}`, ...port('lg', GUEST_PORTS.log)],
    ...['-chardev', `socket,id=ct,path=${opt(p.control)},server=on,wait=off`, ...port('ct', GUEST_PORTS.control)],
    ...['-device', 'virtio-serial-pci,id=exec'],
    ...p.execSlots.flatMap((slot, k) =>
      EXEC_STREAMS.flatMap((s) => [
        ...['-chardev', `socket,id=x${k}${s},path=${opt(slot.sockets[s])},server=on,wait=off`],
        ...['-device', `virtserialport,bus=exec.0,chardev=x${k}${s},name=${execPortName(k, s)}`],
      ]),
    ),
    ...tailArgs(p, l, 'virtio-net-device'),
  ];
}

/**
 * QEMU's arguments for a `vm.disk` VM. Pure. The same microVM, booted from the same kind of
 * kernel + initramfs (the disk-root one), with the task's qcow2 overlay of the disk on virtio-blk
 * and nothing of berth's besides: the serial console is all the output there is, and stop is
 * ACPI power-down over QMP (microvm's `acpi=on` gives the guest a power button).
 */
function diskVmArgs(p: VmPaths, l: VmLaunch, disk: string): string[] {
  return [
    ...machineArgs(l),
    ...['-drive', `file=${qemuOptionValue(disk)},format=qcow2,if=none,id=d0`, '-device', 'virtio-blk-device,drive=d0'],
    ...tailArgs(p, l, 'virtio-net-device'),
  ];
}

/**
 * QEMU's arguments for a `vm.disk` VM booted through the disk's own bootloader. Pure. A PC (q35)
 * rather than a microVM: its firmware (SeaBIOS) reads the boot sector, which microvm's does not.
 * Disk and NIC on PCI, as a PC's OS expects them; no option ROM on the NIC (nothing boots from
 * the network, and loading iPXE would cost boot time). The guest finds its address by DHCP
 * (vm-dhcp.ts); the kernel, its arguments and the initramfs are the disk's business.
 */
function firmwareVmArgs(p: VmPaths, l: VmLaunch, disk: string): string[] {
  return [
    ...['-name', l.taskId, '-M', 'q35', ...accelArgs(l.accel), ...sizeArgs(l), '-no-reboot'],
    ...['-drive', `file=${qemuOptionValue(disk)},format=qcow2,if=none,id=d0`, '-device', 'virtio-blk-pci,drive=d0,bootindex=0'],
    ...tailArgs(p, l, 'virtio-net-pci', ',romfile='),
  ];
}

function machineArgs(l: VmLaunch): string[] {
  if (!l.kernel || !l.initrd || l.append === undefined) throw new Error(`VM ${l.taskId}: a microVM needs a kernel, an initramfs and a command line`);
  return [
    ...['-name', l.taskId, '-M', 'microvm,acpi=on,pcie=on', ...accelArgs(l.accel), ...sizeArgs(l)],
    ...['-kernel', l.kernel, '-initrd', l.initrd, '-append', l.append, '-no-reboot'],
  ];
}

function sizeArgs(l: VmLaunch): string[] {
  return ['-m', String(l.memoryMiB), '-smp', String(l.vcpus), '-nodefaults', '-no-user-config', '-display', 'none'];
}

/** Console, QMP, NIC (of model `nic`, with `nicExtra` options), pid file and detaching: the same for every VM. */
function tailArgs(p: VmPaths, l: VmLaunch, nic: string, nicExtra = ''): string[] {
  return [
    ...['-serial', `file:${p.console}`, '-qmp', `unix:${qemuOptionValue(p.qmp)},server=on,wait=off`],
    ...(l.network
      ? ['-netdev', `tap,id=n0,ifname=${l.network.tap},script=no,downscript=no`, '-device', `${nic},netdev=n0,mac=${l.network.mac}${nicExtra}`]
      : []),
    ...['-pidfile', p.pidFile, '-daemonize'],
  ];
}

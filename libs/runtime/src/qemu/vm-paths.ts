import { join } from 'node:path';
import { taskPaths } from '../runc/task-paths';
import { EXEC_SLOTS, EXEC_STREAMS, type ExecStream } from './guest-protocol';

/** Where one VM task keeps its things, all below `<dataDir>/tasks/<taskId>`. */
export interface VmPaths {
  readonly dir: string;
  readonly handleFile: string;
  /** The overlay (image below, `upper` above) exported to the guest as its root over 9p. */
  readonly rootfs: string;
  readonly upper: string;
  readonly work: string;
  /** The 9p share the guest init reads its spec from. */
  readonly share: string;
  readonly spec: string;
  /** The status port's file and the driver's own exit record; watched as the task's doorbell. */
  readonly stateDir: string;
  readonly status: string;
  readonly exitFile: string;
  /** Exists once start spawned QEMU: from then on the task is no longer `created`. */
  readonly startedFile: string;
  /** A `vm.disk` VM's copy-on-write overlay of the disk image; its presence marks a disk VM. */
  readonly disk: string;
  /** How to boot this VM, fixed at prepare (start gets only the handle). */
  readonly launchFile: string;
  readonly logPath: string;
  /** The guest's serial console (kernel messages, the init's own lines): plain text. */
  readonly console: string;
  readonly control: string;
  readonly qmp: string;
  readonly pidFile: string;
  /** Per exec slot: the sockets QEMU listens on for its ports, and the file of whoever uses the slot. */
  readonly execSlots: readonly ExecSlotPaths[];
  /** Exec specs for the guest and its answers (`exec/` in the task share). */
  readonly execShare: string;
  /** The DHCP server of a VM booted through its own bootloader (vm-dhcp.ts). */
  readonly dhcp: { readonly config: string; readonly pidFile: string; readonly leaseFile: string };
}

export interface ExecSlotPaths {
  readonly sockets: Readonly<Record<ExecStream, string>>;
  readonly claim: string;
}

/** sun_path is 108 bytes with its terminating NUL. */
export const UNIX_PATH_MAX = 107;

/** The paths of VM task `taskId` (validated as runc's: it becomes a directory name). Pure. */
export function vmPaths(dataDir: string, taskId: string): VmPaths {
  const { dir, handleFile, rootfs, upper, work, logPath } = taskPaths(dataDir, taskId);
  const share = join(dir, 'share');
  const stateDir = join(dir, 'state');
  return {
    dir,
    handleFile,
    rootfs,
    upper,
    work,
    share,
    spec: join(share, 'spec'),
    stateDir,
    status: join(stateDir, 'status'),
    exitFile: join(stateDir, 'exit-code'),
    startedFile: join(stateDir, 'started'),
    disk: join(dir, 'disk.qcow2'),
    launchFile: join(dir, 'vm.json'),
    logPath,
    console: join(dir, 'console.log'),
    control: join(dir, 'control.sock'),
    qmp: join(dir, 'qmp.sock'),
    pidFile: join(dir, 'qemu.pid'),
    execSlots: Array.from({ length: EXEC_SLOTS }, (_, slot) => ({
      sockets: Object.fromEntries(EXEC_STREAMS.map((s) => [s, join(dir, `exec-${slot}-${s}.sock`)])) as Record<ExecStream, string>,
      claim: join(dir, `exec-${slot}.claim`),
    })),
    execShare: join(share, 'exec'),
    dhcp: { config: join(dir, 'dhcp.conf'), pidFile: join(dir, 'dhcp.pid'), leaseFile: join(dir, 'dhcp.leases') },
  };
}

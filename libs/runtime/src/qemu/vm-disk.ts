import { connect } from 'node:net';
import { isAbsolute } from 'node:path';
import { runCommand } from '../command';
import { TaskSpecError } from '../errors';
import { guestCommandLine } from './guest-protocol';

/** Formats a `vm.disk` may have; anything else is refused (qemu-img would guess, and guessing raw is how images get overwritten). */
export type DiskFormat = 'qcow2' | 'raw';

/**
 * The format of the base image `disk`, as `qemu-img info --output=json` reports it. Throws
 * TaskSpecError when it is not an absolute path, cannot be read, or is neither qcow2 nor raw.
 */
export async function diskFormat(taskId: string, disk: string, timeoutMs: number): Promise<DiskFormat> {
  if (!isAbsolute(disk)) throw new TaskSpecError(taskId, `vm.disk must be an absolute path on the node (got "${disk}")`);
  // -U: a base image other VMs have open is still readable (its header is all we read).
  const { stdout } = await runCommand('qemu-img', ['info', '-U', '--output=json', disk], { timeoutMs }).catch((e: unknown) => {
    throw new TaskSpecError(taskId, `vm.disk ${disk} cannot be read as a disk image: ${e instanceof Error ? e.message : String(e)}`);
  });
  const format = (JSON.parse(stdout) as { format?: unknown }).format;
  if (format !== 'qcow2' && format !== 'raw') throw new TaskSpecError(taskId, `vm.disk ${disk} is in format ${String(format)}; use qcow2 or raw`);
  return format;
}

/**
 * The qemu-img command that makes the task's copy-on-write overlay `overlay` over `base`: every
 * write of the guest lands in the overlay, the base image is only read. Pure.
 */
export function overlayCommand(base: string, format: DiskFormat, overlay: string): string[] {
  return ['qemu-img', 'create', '-q', '-f', 'qcow2', '-F', format, '-b', base, overlay];
}

export async function createOverlay(base: string, format: DiskFormat, overlay: string, timeoutMs: number): Promise<void> {
  const [file, ...args] = overlayCommand(base, format, overlay);
  await runCommand(file!, args, { timeoutMs });
}

/**
 * The kernel command line of a disk VM: the usual console and clock arguments, the marker and
 * network of the disk-root init (disk-init.ts), then the user's `vm.cmdline` (last, so its
 * `root=`, `init=` or `loglevel=` win). Pure but for the host TSC rate guestCommandLine reads.
 */
export function diskCommandLine(network: { address: string; gateway: string; mac: string } | undefined, cmdline?: string): string {
  const net = network ? [`berth.ip=${network.address}`, `berth.gw=${network.gateway}`, `berth.mac=${network.mac}`] : [];
  return [guestCommandLine({ console: true }), ...net, ...(cmdline?.trim() ? [cmdline.trim()] : [])].join(' ');
}

/**
 * Sends one QMP command (`system_powerdown`: the ACPI power button) to the VM's QMP socket and
 * resolves once QEMU acknowledged it; false when QEMU does not answer within `timeoutMs`.
 */
export function qmpCommand(socket: string, command: string, timeoutMs = 2_000): Promise<boolean> {
  return new Promise((resolve) => {
    const conn = connect(socket);
    let heard = '';
    let stage: 'greeting' | 'capabilities' | 'command' = 'greeting';
    const finish = (ok: boolean) => {
      clearTimeout(timer);
      conn.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    conn.setEncoding('utf8');
    conn.on('data', (text: string) => {
      heard += text;
      for (let nl = heard.indexOf('\n'); nl >= 0; nl = heard.indexOf('\n')) {
        const reply = JSON.parse(heard.slice(0, nl)) as { QMP?: unknown; return?: unknown; error?: unknown };
        heard = heard.slice(nl + 1);
        if (stage === 'greeting' && reply.QMP) {
          stage = 'capabilities';
          conn.write('{"execute":"qmp_capabilities"}\n');
        } else if (stage === 'capabilities' && reply.return) {
          stage = 'command';
          conn.write(`${JSON.stringify({ execute: command })}\n`);
        } else if (stage === 'command' && (reply.return || reply.error)) {
          finish(reply.return !== undefined);
          return;
        }
      }
    });
    conn.once('error', () => finish(false));
  });
}

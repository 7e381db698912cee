import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isCI, requireTools } from '../../support/prereq';

/**
 * A kernel a `runtime: vm` task can boot with the driver's default choice: some
 * `/boot/vmlinuz-<version>` whose `/lib/modules/<version>` exists. Undefined when there is none.
 */
export function bootableKernel(): string | undefined {
  const names = existsSync('/boot') ? readdirSync('/boot') : [];
  const kernel = names.find((n) => /^vmlinuz-/.test(n) && existsSync(join('/lib/modules', n.slice('vmlinuz-'.length))));
  return kernel ? join('/boot', kernel) : undefined;
}

/**
 * requireTools for suites that boot VMs: the tools, qemu-system-x86_64, and a kernel with its
 * modules. As requireTools: outside CI a missing one skips the suite with a note, under CI=true it
 * throws — a CI run must not pass by skipping the VMs it was meant to boot.
 */
export function requireVmHost(tools: readonly string[]): boolean {
  if (!requireTools([...tools, 'qemu-system-x86_64'], { root: true })) return false;
  if (bootableKernel()) return true;
  const message = 'prerequisites missing: no /boot/vmlinuz-<version> with /lib/modules/<version> (install linux-image-amd64)';
  if (isCI) throw new Error(message);
  console.warn(`skipping: ${message}`);
  return false;
}

/** This host's boot id: a guest that prints the same one is no VM. */
export function hostBootId(): string {
  return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
}

/** `/proc` pids whose command line runs qemu-system-* and contains `needle` (a task id). */
export function qemuProcessesMentioning(needle: string): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc').filter((e) => /^\d+$/.test(e))) {
    let cmdline = '';
    try {
      cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
    } catch {
      continue; // it ended while we looked
    }
    const argv = cmdline.split('\0');
    if (argv[0]?.includes('qemu-system') && argv.some((a) => a.includes(needle))) found.push(Number(entry));
  }
  return found;
}

import { readFile } from 'node:fs/promises';
import { runCommand } from '../command';
import { CommandFailedError } from '../errors';

/** The directories of one task's copy-on-write root filesystem. */
export interface OverlayDirs {
  /** The image's unpacked rootfs, never written. */
  readonly lower: string;
  /** The task's own layer: every file the task writes ends up here. */
  readonly upper: string;
  readonly work: string;
  readonly target: string;
}

/** `mount -o` options for the overlay. Pure; throws when a path would break the option syntax. */
export function overlayOptions(d: OverlayDirs): string {
  for (const p of [d.lower, d.upper, d.work]) {
    if (/[:,]/.test(p)) throw new CommandFailedError('mount overlay', `path "${p}" contains ":" or ","`);
  }
  return `lowerdir=${d.lower},upperdir=${d.upper},workdir=${d.work}`;
}

/** Mount points listed in a /proc/self/mountinfo text (octal escapes decoded). Pure. */
export function mountPoints(mountinfo: string): Set<string> {
  const points = new Set<string>();
  for (const line of mountinfo.split('\n')) {
    const field = line.split(' ')[4];
    if (field) points.add(field.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))));
  }
  return points;
}

export async function isMounted(path: string): Promise<boolean> {
  return mountPoints(await readFile('/proc/self/mountinfo', 'utf8')).has(path);
}

/** Mounts the overlay at `target` unless something is mounted there already (idempotent). */
export async function mountOverlay(d: OverlayDirs): Promise<void> {
  if (await isMounted(d.target)) return;
  await runCommand('mount', ['-t', 'overlay', 'overlay', '-o', overlayOptions(d), d.target], { timeoutMs: 30_000 });
}

/** Unmounts `target` if mounted (idempotent). */
export async function unmount(target: string): Promise<void> {
  if (!(await isMounted(target))) return;
  await runCommand('umount', [target], { timeoutMs: 30_000 });
}

import { lstat, mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { runCommand } from '../command';
import type { TaskConfig } from '../driver';
import { CommandFailedError, TaskSpecError } from '../errors';
import { isMounted, mountPoints, unmount } from '../runc/overlay';
import { volumeBinds } from '../task-volumes';

/**
 * Bind-mounts the task's named volumes (made in `volumesDir` as needed) into the VM's rootfs on
 * the host, so the guest sees them inside its 9p root with no share of their own. Idempotent.
 */
export async function mountVolumes(task: TaskConfig, rootfs: string, volumesDir: string, timeoutMs: number): Promise<void> {
  for (const v of volumeBinds(task, volumesDir)) {
    await mkdir(v.source, { recursive: true });
    const target = await directoryInside(rootfs, v.destination, task.taskId);
    if (await isMounted(target)) continue;
    await runCommand('mount', ['--bind', v.source, target], { timeoutMs });
  }
}

/** Unmounts the volumes inside `rootfs` (deepest first), then the overlay itself. Idempotent. */
export async function unmountRootfs(rootfs: string): Promise<void> {
  const below = [...mountPoints(await readFile('/proc/self/mountinfo', 'utf8'))].filter((m) => m.startsWith(`${rootfs}/`));
  for (const m of [...below.sort((a, b) => b.length - a.length), rootfs]) await unmountSoon(m);
}

/**
 * `path` below `root` as a directory, created as needed. Refuses symlinks and non-directories on
 * the way: an image must not redirect a bind mount to somewhere outside its rootfs.
 */
async function directoryInside(root: string, path: string, taskId: string): Promise<string> {
  let dir = root;
  for (const part of path.split('/').filter(Boolean)) {
    dir = join(dir, part);
    const info = await lstat(dir).catch(() => undefined);
    if (!info) await mkdir(dir);
    else if (!info.isDirectory()) throw new TaskSpecError(taskId, `volume mount path ${path}: ${dir.slice(root.length)} in the image is not a directory`);
  }
  return dir;
}

/**
 * Unmounts `target`, retrying for up to 5 s while it is busy: the kernel closes some files of a
 * process that just died (QEMU's 9p export) a moment after the process is gone.
 */
async function unmountSoon(target: string): Promise<void> {
  for (let tries = 1; ; tries++) {
    try {
      return await unmount(target);
    } catch (e) {
      if (tries >= 50 || !(e instanceof CommandFailedError) || !/busy/i.test(e.detail)) throw e;
      await sleep(100);
    }
  }
}

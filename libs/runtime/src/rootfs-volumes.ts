import { chown, lstat, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { runCommand } from './command';
import type { TaskConfig } from './driver';
import { CommandFailedError, TaskSpecError } from './errors';
import { isMounted, mountPoints, unmount } from './runc/overlay';
import { volumeBinds } from './task-volumes';

/**
 * Whose ids a named volume's files carry: the host's, or those of a node's user-namespace range
 * (starting at `base`). A volume serves one kind only: a task of the other kind would see every
 * file owned by ids it cannot map (nobody), or by unprivileged strangers.
 */
export type VolumeIds = { readonly kind: 'host' } | { readonly kind: 'userns'; readonly base: number };

/**
 * Makes the task's named volumes in `volumesDir` as needed and claims each for `ids`, recorded in
 * `<volumesDir>/.<name>.ids` ("host" or "userns <base>") by whichever task uses it first; a new
 * volume for a user namespace gets its top directory owned by the range's root. A volume made
 * before claims were recorded counts as the host's once it holds files. Throws TaskSpecError,
 * naming the volume, when it belongs to the other kind (or to another range).
 */
export async function claimVolumes(task: TaskConfig, volumesDir: string, ids: VolumeIds): Promise<void> {
  const want = ids.kind === 'host' ? 'host' : `userns ${ids.base}`;
  for (const v of volumeBinds(task, volumesDir)) {
    const name = v.source.slice(volumesDir.length + 1);
    const marker = join(volumesDir, `.${name}.ids`);
    await mkdir(v.source, { recursive: true });
    let claimed = (await readFile(marker, 'utf8').catch(() => undefined))?.trim();
    if (claimed === undefined && (await readdir(v.source)).length > 0) claimed = 'host';
    if (claimed === undefined) {
      if (ids.kind === 'userns') await chown(v.source, ids.base, ids.base);
      // wx: of two tasks claiming a new volume at once, one wins; the other reads its claim.
      const won = await writeFile(marker, `${want}\n`, { flag: 'wx' }).then(
        () => true,
        (e: NodeJS.ErrnoException) => {
          if (e.code === 'EEXIST') return false;
          throw e;
        },
      );
      claimed = won ? want : (await readFile(marker, 'utf8')).trim();
    }
    if (claimed !== want) throw new TaskSpecError(task.taskId, `volume ${name} ${volumeOwners(claimed)}, and this task ${volumeOwners(want, true)}: a volume is shared only by tasks of one kind`);
  }
}

function volumeOwners(claim: string, task = false): string {
  if (claim === 'host') return task ? 'runs without a user namespace' : 'holds files of tasks without a user namespace (host ids)';
  const base = claim.split(' ')[1];
  return task ? `runs in a user namespace (host ids from ${base})` : `holds files of user-namespaced tasks (host ids from ${base})`;
}

/**
 * Bind-mounts the task's named volumes (made in `volumesDir` as needed) into its rootfs on the
 * host: a VM's guest sees them inside its 9p root with no share of their own, and runc takes them
 * along with the root of a user-namespaced task, whose namespace could not open their sources in
 * the node's data dir. Idempotent.
 */
export async function mountVolumes(task: TaskConfig, rootfs: string, volumesDir: string, timeoutMs: number, owner?: number): Promise<void> {
  for (const v of volumeBinds(task, volumesDir)) {
    await mkdir(v.source, { recursive: true });
    const target = await directoryInside(rootfs, v.destination, task.taskId, owner);
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
 * `path` below `root` as a directory, created as needed (owned by uid and gid `owner` when given:
 * a user namespace's root). Refuses symlinks and non-directories on the way: an image must not
 * redirect a bind mount to somewhere outside its rootfs.
 */
async function directoryInside(root: string, path: string, taskId: string, owner?: number): Promise<string> {
  let dir = root;
  for (const part of path.split('/').filter(Boolean)) {
    dir = join(dir, part);
    const info = await lstat(dir).catch(() => undefined);
    if (!info) {
      await mkdir(dir);
      if (owner !== undefined) await chown(dir, owner, owner);
    }
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

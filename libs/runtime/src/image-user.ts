import { lstat, readFile, realpath } from 'node:fs/promises';
import { join } from 'node:path';
import { TaskSpecError } from './errors';
import type { Image } from './images/image-store';
import { resolveUser, type ProcessUser } from './runc/user';

/** A task's own choice of uid and gid (securityContext.runAsUser / runAsGroup), either optional. */
export interface UserOverride {
  readonly runAsUser?: number;
  readonly runAsGroup?: number;
}

/**
 * The uid/gid task `taskId` runs as: the image's user, resolved against the image's own passwd
 * and group files (never following symlinks out of its rootfs). `override.runAsUser` replaces
 * the image's user (its group is then the image's for that uid, else 0), `runAsGroup` the group
 * whichever user runs. Throws TaskSpecError for a name the image does not know.
 */
export async function imageUser(taskId: string, image: Image, override: UserOverride = {}): Promise<ProcessUser> {
  const root = await realpath(image.rootfs);
  const read = async (rel: string): Promise<string> => {
    const path = join(root, rel);
    // An image may make /etc (or the file) a symlink to a host path: read only what is really inside.
    const real = await realpath(path).catch(() => undefined);
    return real === path && (await lstat(path)).isFile() ? readFile(path, 'utf8') : '';
  };
  const name = override.runAsUser === undefined ? image.config.user : String(override.runAsUser);
  const user = resolveUser(name, await read('etc/passwd'), await read('etc/group'));
  if ('problem' in user) throw new TaskSpecError(taskId, user.problem);
  return override.runAsGroup === undefined ? user : { uid: user.uid, gid: override.runAsGroup };
}

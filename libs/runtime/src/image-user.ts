import { lstat, readFile, realpath } from 'node:fs/promises';
import { join } from 'node:path';
import { TaskSpecError } from './errors';
import type { Image } from './images/image-store';
import { resolveUser, type ProcessUser } from './runc/user';

/**
 * The uid/gid task `taskId` runs as: the image's user, resolved against the image's own passwd
 * and group files (never following symlinks out of its rootfs). Throws TaskSpecError for a name
 * the image does not know.
 */
export async function imageUser(taskId: string, image: Image): Promise<ProcessUser> {
  const root = await realpath(image.rootfs);
  const read = async (rel: string): Promise<string> => {
    const path = join(root, rel);
    // An image may make /etc (or the file) a symlink to a host path: read only what is really inside.
    const real = await realpath(path).catch(() => undefined);
    return real === path && (await lstat(path)).isFile() ? readFile(path, 'utf8') : '';
  };
  const user = resolveUser(image.config.user, await read('etc/passwd'), await read('etc/group'));
  if ('problem' in user) throw new TaskSpecError(taskId, user.problem);
  return user;
}

import { chmod, lchown, lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { runCommand } from '../command';
import { hostId, type IdRange } from '../user-namespace';

/**
 * Where the image store keeps the copy of digest `digest`'s rootfs whose owners are shifted into
 * `range` (`<storeDir>/rootfs-shifted/<hex>-<base>`): one per (image, node range), shared by
 * every user-namespaced task of that image. Pure.
 */
export function shiftedRootfsDir(storeDir: string, digest: string, range: IdRange): string {
  return join(storeDir, SHIFTED_DIR, `${digestHex(digest)}-${range.base}`);
}

/** The directory below the store that holds every shifted copy. */
export const SHIFTED_DIR = 'rootfs-shifted';

/** The digest a shifted copy's directory name belongs to (`<hex>-<base>` → `sha256:<hex>`); undefined for another name. Pure. */
export function shiftedCopyDigest(name: string): string | undefined {
  const m = /^([0-9a-f]{64})-\d+$/.exec(name);
  return m ? `sha256:${m[1]}` : undefined;
}

function digestHex(digest: string): string {
  const m = /^sha256:([0-9a-f]{64})$/.exec(digest);
  if (!m) throw new Error(`not a sha256 digest: ${digest}`);
  return m[1]!;
}

/**
 * Copies `source` to `target` (which must not exist) with every owner moved into `range`: uid u
 * becomes base + u, gid g base + g. Modes, symlinks, hard links, device nodes and xattrs are
 * copied as they are (`cp -a`), except file capabilities, which the kernel drops on chown (a
 * task has no new privileges anyway); setuid/setgid bits, which chown clears too, are set again.
 * A file whose owner the range cannot hold (an id ≥ range.size) is refused: inside the task it
 * would belong to nobody.
 */
export async function copyShifted(source: string, target: string, range: IdRange): Promise<void> {
  await runCommand('cp', ['-a', '--', source, target], { timeoutMs: 600_000 });
  // From the source's owners, never the copy's: a hard-linked file is then shifted once, whichever path reaches it first.
  await shiftTree(source, target, range, '/');
}

async function shiftTree(source: string, target: string, range: IdRange, rel: string): Promise<void> {
  await shiftOne(source, target, range, rel);
  const entries = await readdir(source, { withFileTypes: true });
  const dirs: string[] = [];
  await Promise.all(
    entries.map(async (e) => {
      if (e.isDirectory()) dirs.push(e.name);
      else await shiftOne(join(source, e.name), join(target, e.name), range, join(rel, e.name));
    }),
  );
  for (const d of dirs) await shiftTree(join(source, d), join(target, d), range, join(rel, d));
}

async function shiftOne(source: string, target: string, range: IdRange, rel: string): Promise<void> {
  const st = await lstat(source);
  const uid = hostId(range, st.uid);
  const gid = hostId(range, st.gid);
  if (uid === undefined || gid === undefined) {
    throw new Error(`${rel} is owned by ${st.uid}:${st.gid}, outside the ${range.size} ids of a task's user namespace`);
  }
  await lchown(target, uid, gid);
  if (!st.isSymbolicLink() && (st.mode & 0o6000) !== 0) await chmod(target, st.mode & 0o7777);
}

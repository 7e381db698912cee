/** uid/gid the task's process runs as, resolved against the image's own /etc/passwd and /etc/group. */
export interface ProcessUser {
  readonly uid: number;
  readonly gid: number;
}

/**
 * Resolves an image `User` (`uid`, `uid:gid`, `name`, `name:group`, empty = root) the way Docker
 * does: numeric ids are taken as they are; names are looked up in the image's passwd/group text.
 * Returns a reason string when a name is unknown.
 */
export function resolveUser(user: string | undefined, passwd: string, group: string): ProcessUser | { readonly problem: string } {
  if (!user) return { uid: 0, gid: 0 };
  const [name, groupName] = user.split(':', 2) as [string, string | undefined];
  const users = parseDb(passwd);
  let uid: number;
  let gid: number;
  if (/^\d+$/.test(name)) {
    uid = Number(name);
    gid = Number(users.find((u) => u[2] === name)?.[3] ?? 0);
  } else {
    const entry = users.find((u) => u[0] === name);
    if (!entry) return { problem: `user "${name}" is not in the image's /etc/passwd` };
    uid = Number(entry[2]);
    gid = Number(entry[3]);
  }
  if (groupName !== undefined && groupName !== '') {
    if (/^\d+$/.test(groupName)) gid = Number(groupName);
    else {
      const entry = parseDb(group).find((g) => g[0] === groupName);
      if (!entry) return { problem: `group "${groupName}" is not in the image's /etc/group` };
      gid = Number(entry[2]);
    }
  }
  return { uid, gid };
}

function parseDb(text: string): string[][] {
  return text
    .split('\n')
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => l.split(':'));
}

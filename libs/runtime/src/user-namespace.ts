import { USER_NAMESPACE_IDS } from '@berth/core';
import { TaskSpecError } from './errors';

/**
 * The host ids a node's user-namespaced tasks run as: uid (and gid) n inside is `base + n` on
 * the host, for n in 0 … USER_NAMESPACE_IDS - 1. One range per node, shared by all its
 * user-namespaced tasks: they are nobody to the host, but not to each other (as with Docker's
 * userns-remap).
 */
export interface IdRange {
  readonly base: number;
  readonly size: number;
}

/**
 * 0x70000000 (1879048192): above every range `useradd` hands out to /etc/subuid and /etc/subgid
 * (SUB_UID_MAX 600100000 by default), above systemd-nspawn's container ranges (524288 –
 * 1879048191) and below 2^31, where tools that keep ids in a signed int go wrong. No login user
 * or subordinate range owns these ids, so a file or process owned by them belongs to no one else.
 */
export const DEFAULT_USER_NAMESPACE_BASE = 0x7000_0000;

/** The node's range from its configured base (a multiple of 65536, clear of 0 … 65535, below 2^31); throws otherwise. */
export function nodeIdRange(base: number = DEFAULT_USER_NAMESPACE_BASE): IdRange {
  const size = USER_NAMESPACE_IDS;
  if (!Number.isInteger(base) || base < size || base % size !== 0 || base + size > 2 ** 31) {
    throw new TaskSpecError('-', `user namespace base ${base} must be a multiple of ${size} between ${size} and ${2 ** 31 - size}`);
  }
  return { base, size };
}

/** One OCI `linux.uidMappings` / `gidMappings` entry. */
export interface OciIdMapping {
  readonly containerID: number;
  readonly hostID: number;
  readonly size: number;
}

/** Container 0 → host base, the whole range; the same for uids and gids. Pure. */
export function idMappings(range: IdRange): OciIdMapping[] {
  return [{ containerID: 0, hostID: range.base, size: range.size }];
}

/** The host id of id `id` inside; undefined when the namespace has no such id. Pure. */
export function hostId(range: IdRange, id: number): number | undefined {
  return Number.isInteger(id) && id >= 0 && id < range.size ? range.base + id : undefined;
}

/** Refuses a user (the image's or runAsUser/runAsGroup) the task's namespace cannot map. */
export function checkMappable(taskId: string, range: IdRange, user: { readonly uid: number; readonly gid: number }): void {
  for (const [kind, id] of [['uid', user.uid], ['gid', user.gid]] as const) {
    if (hostId(range, id) === undefined) {
      throw new TaskSpecError(taskId, `${kind} ${id} does not exist in a user namespace (ids 0 – ${range.size - 1}); run as one of those (securityContext.runAsUser / runAsGroup)`);
    }
  }
}

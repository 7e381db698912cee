import { constants } from 'node:fs';
import { access, mkdir, open, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { NetworkSetupError } from './errors';
import { runHostTool, type ToolRun } from './exec';

/**
 * Network namespaces and links, through iproute2 and util-linux. A namespace is persisted the way
 * `ip netns add` does it — a bind mount of /proc/<pid>/ns/net on a file — but with `unshare
 * --net=FILE`, which works in any directory (netnsDir is configurable), not only /run/netns.
 */

/** Creates a namespace at `path` with loopback up. On failure nothing is left at `path`. */
export async function createNetns(path: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  // 'wx': the file must not exist — a namespace is never silently reused.
  const handle = await open(path, 'wx', 0o444).catch((e: NodeJS.ErrnoException) => {
    throw new NetworkSetupError(`cannot create network namespace ${path}: ${e.message}`);
  });
  await handle.close();
  try {
    // unshare runs its command inside the namespace it just created: one process, not three.
    await mustSucceed('unshare', [`--net=${path}`, 'ip', 'link', 'set', 'lo', 'up'], `create network namespace ${path} with loopback up`);
  } catch (e) {
    await deleteNetns(path);
    throw e;
  }
}

/** Unmounts and removes the namespace file. Idempotent: a missing namespace is success. */
export async function deleteNetns(path: string): Promise<void> {
  if (!(await exists(path))) return;
  // Lazy: a process still inside the namespace keeps it alive; berth only drops its handle.
  const umount = await runHostTool('umount', ['--lazy', path]);
  if (umount.exitCode !== 0 && !/not mounted|no mount point/i.test(umount.stderr)) {
    throw new NetworkSetupError(`cannot unmount network namespace ${path}: ${umount.stderr.trim()}`);
  }
  await unlink(path).catch((e: NodeJS.ErrnoException) => {
    if (e.code !== 'ENOENT') throw new NetworkSetupError(`cannot remove ${path}: ${e.message}`);
  });
}

export async function exists(path: string): Promise<boolean> {
  try {
    await access(path, constants.F_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * The IPv4 address (CIDR) of `ifName` inside the namespace, or undefined when the namespace or
 * the interface or an address is missing.
 */
export async function readIpv4InNetns(path: string, ifName: string): Promise<string | undefined> {
  if (!(await exists(path))) return undefined;
  const run = await runHostTool('nsenter', [`--net=${path}`, 'ip', '-j', '-4', 'addr', 'show', 'dev', ifName]);
  if (run.exitCode !== 0) return undefined;
  const links = JSON.parse(run.stdout || '[]') as { addr_info?: { local?: string; prefixlen?: number }[] }[];
  const addr = links[0]?.addr_info?.find((a) => a.local !== undefined);
  return addr ? `${addr.local}/${addr.prefixlen ?? 32}` : undefined;
}

/** Names of the interfaces enslaved to `bridge`, or undefined when the bridge does not exist. */
export async function bridgePorts(bridge: string): Promise<string[] | undefined> {
  const run = await runHostTool('ip', ['-o', 'link', 'show', 'master', bridge]);
  if (run.exitCode !== 0) {
    if (/does not exist|cannot find device/i.test(run.stderr)) return undefined;
    throw failure(`list the ports of bridge ${bridge}`, run);
  }
  return run.stdout
    .split('\n')
    .map((line) => /^\d+:\s+([^:@\s]+)/.exec(line)?.[1])
    .filter((name): name is string => name !== undefined);
}

/** Deletes a link. Idempotent: a missing link is success. */
export async function deleteLink(name: string): Promise<void> {
  const run = await runHostTool('ip', ['link', 'del', name]);
  if (run.exitCode !== 0 && !/does not exist|cannot find device/i.test(run.stderr)) {
    throw failure(`delete link ${name}`, run);
  }
}

async function mustSucceed(file: string, args: readonly string[], what: string): Promise<void> {
  const run = await runHostTool(file, args);
  if (run.exitCode !== 0) throw failure(what, run);
}

function failure(what: string, run: ToolRun): NetworkSetupError {
  return new NetworkSetupError(`cannot ${what}: ${run.stderr.trim() || run.stdout.trim() || `exit ${run.exitCode}`}`);
}

import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { rm, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { cgroupDirsNamed, mountsUnder } from '../../support/node-host';

const exec = promisify(execFile);

/**
 * Where an agent leaves traces of its tasks on the host. Agents share /run/netns and the cgroup
 * hierarchies with every other berth on the machine (another test run may use them at the same
 * time), so the checks look for these task ids only.
 */
export interface NodeScope {
  /** The agent's node name: its cgroups are `/berth/<node>/<task>`. */
  readonly node: string;
  /** runc's `--root` of that agent (default `/run/berth/<node>/runc`). */
  readonly runcRoot: string;
  /** The agent's data dir: task rootfs overlays are mounted below it. */
  readonly dataDir: string;
  readonly netnsDir?: string;
}

/** Where the runc driver mounts the roots of the node's user-namespaced tasks (RuncDriverOptions.userNamespaceRoots). */
export function usernsRootsOf(node: string): string {
  return `/run/berth-userns/${node}`;
}

export function defaultRuncRoot(node: string): string {
  return `/run/berth/${node}/runc`;
}

/** Ids of the containers under a runc root (none when the root does not exist). */
export async function runcContainers(runcRoot: string): Promise<string[]> {
  if (!existsSync(runcRoot)) return [];
  const { stdout } = await exec('runc', ['--root', runcRoot, 'list', '-q']);
  return stdout.split('\n').filter(Boolean);
}

/** One container as `runc list -f json` reports it. */
export interface RuncEntry {
  readonly id: string;
  /** created | running | paused | stopped */
  readonly status: string;
  readonly pid: number;
}

/** Every container under a runc root, with its state (none when the root does not exist). */
export async function runcList(runcRoot: string): Promise<RuncEntry[]> {
  for (let attempt = 1; ; attempt++) {
    if (!existsSync(runcRoot)) return [];
    try {
      const { stdout } = await exec('runc', ['--root', runcRoot, 'list', '-f', 'json']);
      const entries = (JSON.parse(stdout) ?? []) as RuncEntry[]; // runc prints `null` for none
      return entries.map((e) => ({ id: e.id, status: e.status, pid: e.pid }));
    } catch (e) {
      // runc lists the root's directories, then stats each: one deleted in between fails the whole
      // listing ("stat …: no such file or directory"). A container going away is no error here.
      if (attempt >= 5 || !/no such file or directory/.test((e as Error).message)) throw e;
    }
  }
}

/** Human-readable list of what is left on the host of `taskIds`; empty when nothing is. */
export async function taskTraces(scope: NodeScope, taskIds: readonly string[]): Promise<string[]> {
  const traces: string[] = [];
  const containers = new Set(await runcContainers(scope.runcRoot));
  const netnsDir = scope.netnsDir ?? '/run/netns';
  for (const id of taskIds) {
    if (containers.has(id)) traces.push(`runc container ${id} under ${scope.runcRoot}`);
    if (existsSync(join(netnsDir, `berth-${id}`))) traces.push(`netns ${join(netnsDir, `berth-${id}`)}`);
    for (const dir of await cgroupDirsNamed(`/berth/${scope.node}/${id}`)) traces.push(`cgroup ${dir}`);
    if (existsSync(join(usernsRootsOf(scope.node), id))) traces.push(`user namespace root ${join(usernsRootsOf(scope.node), id)}`);
  }
  for (const m of [...(await mountsUnder(scope.dataDir)), ...(await mountsUnder(usernsRootsOf(scope.node)))]) traces.push(`mount ${m}`);
  return traces;
}

/**
 * Cleanup of last resort after a failed run: removes the given tasks' containers, mounts,
 * namespaces and cgroups (each step ignores "already gone"). The node's bridge, iptables chains
 * and IPAM are the caller's (CniNetwork.destroyNode).
 */
export async function removeTaskTraces(scope: NodeScope, taskIds: readonly string[]): Promise<void> {
  const containers = new Set(await runcContainers(scope.runcRoot).catch(() => []));
  for (const id of taskIds) {
    if (containers.has(id)) await exec('runc', ['--root', scope.runcRoot, 'delete', '--force', id]).catch(() => undefined);
  }
  for (const m of (await mountsUnder(scope.dataDir)).reverse()) await exec('umount', ['-l', m]).catch(() => undefined);
  for (const id of taskIds) {
    const root = join(usernsRootsOf(scope.node), id);
    if (!existsSync(root)) continue;
    await exec('umount', ['-l', root]).catch(() => undefined);
    await rmdir(root).catch(() => undefined);
  }
  // The node's user namespace roots dir, and their parent, only when empty.
  await rmdir(usernsRootsOf(scope.node)).catch(() => undefined);
  await rmdir(join(usernsRootsOf(scope.node), '..')).catch(() => undefined);
  const netnsDir = scope.netnsDir ?? '/run/netns';
  for (const id of taskIds) {
    const path = join(netnsDir, `berth-${id}`);
    if (!existsSync(path)) continue;
    await exec('umount', [path]).catch(() => undefined);
    await rm(path, { force: true }).catch(() => undefined);
  }
  for (const id of taskIds) {
    for (const dir of await cgroupDirsNamed(`/berth/${scope.node}/${id}`)) await rmdir(dir).catch(() => undefined);
  }
  // The node's own cgroup parent, and /berth, only when empty (another node may still use them).
  for (const dir of await cgroupDirsNamed(`/berth/${scope.node}`)) {
    await rmdir(dir).catch(() => undefined);
    await rmdir(join(dir, '..')).catch(() => undefined);
  }
}

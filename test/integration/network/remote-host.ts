import { execFile } from 'node:child_process';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { promisify } from 'node:util';

const run = promisify(execFile);

/**
 * A machine outside the node: a network namespace joined to the host by a veth pair on a /30 of
 * its own (host side `.1`, remote `.2`) and with no route to any task subnet — so a task's
 * connection to it only gets an answer when the node masquerades the task's traffic.
 */
export class RemoteHost {
  private constructor(
    readonly netnsPath: string,
    /** The host-side end of the veth pair. */
    readonly link: string,
    /** e.g. `10.236.0` */
    private readonly net: string,
  ) {}

  /** The remote's address. */
  get address(): string {
    return `${this.net}.2`;
  }

  /** The host's address on the link: what masqueraded traffic comes from. */
  get hostAddress(): string {
    return `${this.net}.1`;
  }

  /** Builds it; on failure removes what it made before rethrowing. */
  static async create(o: { netnsPath: string; link: string; net: string }): Promise<RemoteHost> {
    const remote = new RemoteHost(o.netnsPath, o.link, o.net);
    try {
      writeFileSync(o.netnsPath, '', { flag: 'wx' });
      await run('unshare', [`--net=${o.netnsPath}`, 'ip', 'link', 'set', 'lo', 'up']);
      await run('ip', ['link', 'add', o.link, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', o.netnsPath]);
      await run('ip', ['addr', 'add', `${remote.hostAddress}/30`, 'dev', o.link]);
      await run('ip', ['link', 'set', o.link, 'up']);
      await run('nsenter', [`--net=${o.netnsPath}`, 'ip', 'addr', 'add', `${remote.address}/30`, 'dev', 'eth0']);
      await run('nsenter', [`--net=${o.netnsPath}`, 'ip', 'link', 'set', 'eth0', 'up']);
      return remote;
    } catch (e) {
      await remote.destroy();
      throw e;
    }
  }

  /** Removes the veth pair and the namespace. Idempotent. */
  async destroy(): Promise<void> {
    // Deleting one end takes the other with it, at once (a dying namespace frees its links later).
    await run('ip', ['link', 'del', this.link]).catch(() => undefined);
    if (!existsSync(this.netnsPath)) return;
    await run('umount', [this.netnsPath]).catch(() => undefined);
    rmSync(this.netnsPath, { force: true });
  }
}

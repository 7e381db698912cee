import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';

const exec = promisify(execFile);

/** Every lab's bridge and veths start with this (plus a random part), so host checks can tell them apart. */
export const LAB_PREFIX = 'be2e';

/** One simulated host: a named network namespace wired to the lab bridge by a veth pair. */
export interface LabHost {
  /** `ip netns` name; the namespace file is `/run/netns/<netns>`. */
  readonly netns: string;
  readonly netnsPath: string;
  /** The host's address on the lab network (its eth0 inside the namespace). */
  readonly address: string;
  /** The host-side end of its veth pair (a port of the lab bridge). */
  readonly veth: string;
}

/**
 * A bridge on the real host with `/24` addresses: `.1` on the bridge (where the control plane
 * and the registry listen), `.2`, `.3`, … in one network namespace each. Names start with a
 * random prefix so concurrent runs never collide; `destroy()` removes all of it and is idempotent.
 */
export class NetnsLab {
  private constructor(
    readonly prefix: string,
    readonly bridge: string,
    /** e.g. `10.241.0` */
    readonly net: string,
    readonly hosts: LabHost[],
  ) {}

  get bridgeAddress(): string {
    return `${this.net}.1`;
  }

  /**
   * Builds the lab; on failure removes what it made before rethrowing. `family` (4 characters,
   * default LAB_PREFIX) starts every name: a suite with its own family can tell its links from
   * those of another suite running at the same time.
   */
  static async create(o: { net: string; hosts: number; family?: string }): Promise<NetnsLab> {
    const family = o.family ?? LAB_PREFIX;
    if (!/^[a-z0-9]{4}$/.test(family)) throw new Error(`lab family "${family}" must be 4 lowercase letters or digits`);
    const prefix = `${family}${randomBytes(2).toString('hex')}`; // 8 chars: room for suffixes within IFNAMSIZ
    const lab = new NetnsLab(prefix, `${prefix}br`, o.net, []);
    try {
      await ip(['link', 'add', lab.bridge, 'type', 'bridge']);
      await ip(['addr', 'add', `${lab.bridgeAddress}/24`, 'dev', lab.bridge]);
      await ip(['link', 'set', lab.bridge, 'up']);
      for (let i = 0; i < o.hosts; i++) lab.hosts.push(await lab.addHost(i));
      return lab;
    } catch (e) {
      await lab.destroy();
      throw e;
    }
  }

  private async addHost(i: number): Promise<LabHost> {
    const host: LabHost = {
      netns: `${this.prefix}-h${i}`,
      netnsPath: `/run/netns/${this.prefix}-h${i}`,
      address: `${this.net}.${i + 2}`,
      veth: `${this.prefix}v${i}`,
    };
    const peer = `${this.prefix}p${i}`;
    await ip(['netns', 'add', host.netns]);
    await ip(['link', 'add', host.veth, 'type', 'veth', 'peer', 'name', peer]);
    await ip(['link', 'set', peer, 'netns', host.netns]);
    await ip(['-n', host.netns, 'link', 'set', peer, 'name', 'eth0']);
    await ip(['-n', host.netns, 'addr', 'add', `${host.address}/24`, 'dev', 'eth0']);
    await ip(['-n', host.netns, 'link', 'set', 'eth0', 'up']);
    await ip(['-n', host.netns, 'link', 'set', 'lo', 'up']);
    await ip(['link', 'set', host.veth, 'master', this.bridge, 'up']);
    return host;
  }

  /** `nsenter --net=…`: only the network namespace changes (`ip netns exec` would remount /sys). */
  nsenter(host: LabHost): string[] {
    return ['nsenter', `--net=${host.netnsPath}`];
  }

  /**
   * Sets the host-side end of the host's veth down or up: down cuts the host off the lab network
   * (its eth0 loses carrier and packets are dropped: nothing resets open connections, they time
   * out, and new ones fail with EHOSTUNREACH), up restores it.
   */
  async setLink(host: LabHost, state: 'up' | 'down'): Promise<void> {
    await ip(['link', 'set', host.veth, state]);
  }

  /** Runs `ip ARGS` inside the host's namespace and returns stdout. */
  async ipIn(host: LabHost, args: readonly string[]): Promise<string> {
    return ip(['-n', host.netns, ...args]);
  }

  /** Deleting a namespace deletes the veth pair with it; then the bridge goes. */
  async destroy(): Promise<void> {
    for (let i = 0; i < 16; i++) {
      const netns = `${this.prefix}-h${i}`;
      if (existsSync(`/run/netns/${netns}`)) await ip(['netns', 'del', netns]).catch(() => undefined);
      if (existsSync(`/sys/class/net/${this.prefix}v${i}`)) await ip(['link', 'del', `${this.prefix}v${i}`]).catch(() => undefined);
    }
    if (existsSync(`/sys/class/net/${this.bridge}`)) await ip(['link', 'del', this.bridge]);
  }
}

async function ip(args: readonly string[]): Promise<string> {
  try {
    return (await exec('ip', args)).stdout;
  } catch (e) {
    throw new Error(`ip ${args.join(' ')}: ${(e as { stderr?: string }).stderr?.trim() ?? String(e)}`);
  }
}

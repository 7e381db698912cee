import { iptablesRules, linkNames, otherCniNetworks, restoreHost, rulesMentioning, snapshotHost, type HostSnapshot } from '../../support/host-state';

const NETNS_DIR = '/run/netns';

/**
 * The host's network state before a suite, to prove afterwards that the suite left nothing
 * behind. Other suites (another test run on the same machine) may add their own CNI networks
 * meanwhile; then only the rules that mention this suite's marks are compared.
 */
export class HostGuard {
  private constructor(
    private readonly before: HostSnapshot,
    private readonly linksBefore: readonly string[],
    private readonly marks: readonly string[],
    private readonly ownNetworks: readonly string[],
    private readonly bridgePrefix: string,
    private readonly aloneBefore: boolean,
    private readonly mentionsBefore: readonly string[],
  ) {}

  /**
   * @param ownNetworks the CNI network names this suite's agents use (`berth-<node>`)
   * @param marks strings that appear in this suite's iptables rules (network names, subnet prefixes)
   * @param bridgePrefix this suite's bridges start with it; other bridges and their ports are ignored
   */
  static capture(o: { ownNetworks: readonly string[]; marks: readonly string[]; bridgePrefix: string }): HostGuard {
    const marks = [...o.ownNetworks, ...o.marks];
    const alone = otherCniNetworks(o.ownNetworks).length === 0;
    return new HostGuard(snapshotHost(NETNS_DIR), linkNames(o.bridgePrefix), marks, o.ownNetworks, o.bridgePrefix, alone, rulesMentioning(marks));
  }

  /** Puts back ip_forward, empty nft tables and the netns directory (see restoreHost). */
  restore(): void {
    restoreHost(this.before, NETNS_DIR);
  }

  /** What differs from the snapshot, as readable lines; empty when the host is as it was. */
  changes(): string[] {
    const changes: string[] = [];
    const links = linkNames(this.bridgePrefix);
    for (const l of links.filter((x) => !this.linksBefore.includes(x))) changes.push(`link ${l} was added`);
    for (const l of this.linksBefore.filter((x) => !links.includes(x))) changes.push(`link ${l} was removed`);
    const alone = this.aloneBefore && otherCniNetworks(this.ownNetworks).length === 0;
    if (alone && iptablesRules() !== this.before.iptables) {
      changes.push(`iptables changed:\n--- before\n${this.before.iptables}\n--- after\n${iptablesRules()}`);
    }
    const mine = rulesMentioning(this.marks).filter((r) => !this.mentionsBefore.includes(r));
    if (mine.length > 0) changes.push(`iptables rules left behind:\n${mine.join('\n')}`);
    return changes;
  }
}

import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';

/**
 * What the network tests may change on the host, captured before they run, so they can prove
 * they changed nothing for good — and put back what the CNI plugins change as a side effect
 * (the bridge plugin turns on net.ipv4.ip_forward; iptables-nft leaves empty tables behind).
 */
export interface HostSnapshot {
  readonly iptables: string;
  readonly links: readonly string[];
  readonly nftTables: readonly string[];
  readonly ipForward: string;
  readonly netnsDirExisted: boolean;
}

const IP_FORWARD = '/proc/sys/net/ipv4/ip_forward';

export function snapshotHost(netnsDir: string): HostSnapshot {
  return {
    iptables: iptablesRules(),
    links: linkNames(),
    nftTables: nftTables(),
    ipForward: readFileSync(IP_FORWARD, 'utf8').trim(),
    netnsDirExisted: existsSync(netnsDir),
  };
}

/**
 * `iptables-save` without comments, counters, and tables that hold nothing (no rules, no user
 * chains, every built-in chain ACCEPT) — an empty table filters nothing.
 */
export function iptablesRules(): string {
  const text = execFileSync('iptables-save', { encoding: 'utf8' });
  const tables = text.split(/^COMMIT$/m).map((section) =>
    section
      .split('\n')
      .filter((l) => l !== '' && !l.startsWith('#'))
      .map((l) => l.replace(/ \[\d+:\d+\]$/, '')),
  );
  const meaningful = tables.filter((lines) => lines.some((l) => l.startsWith('-A') || (l.startsWith(':') && !/^:\S+ ACCEPT$/.test(l))));
  return meaningful.map((lines) => lines.join('\n')).join('\nCOMMIT\n');
}

/**
 * Interface names, except Docker's: other suites start dockerd and containers concurrently
 * (docker0 and its veths come and go independently of this suite). With `ownBridgePrefix`, also
 * other suites' bridges (any bridge not starting with the prefix) and their ports.
 */
export function linkNames(ownBridgePrefix?: string): string[] {
  const list = (args: string[]) => execFileSync('ip', ['-o', 'link', 'show', ...args], { encoding: 'utf8' }).split('\n').filter((l) => l !== '');
  const nameOf = (line: string) => /^\d+:\s+([^:@\s]+)/.exec(line)?.[1] ?? line;
  const foreign = new Set(['docker0']);
  if (ownBridgePrefix !== undefined) {
    for (const bridge of list(['type', 'bridge']).map(nameOf)) if (!bridge.startsWith(ownBridgePrefix)) foreign.add(bridge);
  }
  return list([])
    .filter((l) => ![...foreign].some((b) => l.includes(` master ${b} `)))
    .map(nameOf)
    .filter((name) => !foreign.has(name))
    .sort();
}

/**
 * iptables rules (normalised as in `iptablesRules`) that mention any of `needles` — CNI network
 * names appear in the plugins' and berth's node-wide comments, subnets in their matches — plus
 * the declarations and rules of the per-task and per-node chains those rules jump to.
 */
export function rulesMentioning(needles: readonly string[]): string[] {
  const lines = iptablesRules().split('\n');
  const direct = lines.filter((l) => needles.some((n) => l.includes(n)));
  const chainName = /-j (CNI-(?:DN-)?[0-9a-f]{16,}|BERTH-(?:MASQ|FWD)-[0-9a-f]{8})/;
  const chains = new Set(direct.map((l) => chainName.exec(l)?.[1]).filter((c): c is string => c !== undefined));
  const viaChains = lines.filter((l) => [...chains].some((c) => l.startsWith(`-A ${c} `) || l.startsWith(`:${c} `)));
  return [...new Set([...direct, ...viaChains])];
}

/**
 * Names of CNI networks, other than `mine`, that currently have iptables rules on this host: the
 * plugins' comments say `name: "N"`, berth's node-wide rules `berth network N: …`.
 */
export function otherCniNetworks(mine: readonly string[]): string[] {
  const rules = iptablesRules();
  const plugins = [...rules.matchAll(/name: \\?"([^"\\]+)\\?"/g)].map((m) => m[1] as string);
  const nodes = [...rules.matchAll(/berth network ([^\s:"\\]+):/g)].map((m) => m[1] as string);
  const names = [...plugins, ...nodes];
  return [...new Set(names)].filter((n) => !mine.includes(n));
}

function nftTables(): string[] {
  return execFileSync('nft', ['list', 'tables'], { encoding: 'utf8' })
    .split('\n')
    .filter((l) => l.startsWith('table '))
    .map((l) => l.slice('table '.length).trim())
    .sort();
}

/**
 * Undoes the plugins' side effects the library leaves alone on purpose (they are host-wide and
 * may be someone else's): ip_forward, nft tables created during the run that are now empty, and
 * the namespace directory when it did not exist before and is empty.
 */
export function restoreHost(before: HostSnapshot, netnsDir: string): void {
  for (const table of nftTables()) {
    if (before.nftTables.includes(table)) continue;
    const listing = execFileSync('nft', ['list', 'table', ...table.split(' ')], { encoding: 'utf8' });
    const holdsRules = listing.split('\n').some((l) => {
      const t = l.trim();
      return t !== '' && t !== '}' && !/^(table|chain) /.test(t) && !/^type .* policy accept;$/.test(t);
    });
    if (!holdsRules) execFileSync('nft', ['delete', 'table', ...table.split(' ')]);
  }
  writeFileSync(IP_FORWARD, before.ipForward);
  if (!before.netnsDirExisted && existsSync(netnsDir) && readdirSync(netnsDir).length === 0) {
    try {
      rmdirSync(netnsDir);
    } catch (e) {
      // `ip netns add` (run by anyone) turns the directory into a mount point; it is theirs then.
      if ((e as NodeJS.ErrnoException).code !== 'EBUSY') throw e;
    }
  }
}

import { NetworkSetupError } from './errors';
import { runHostTool } from './exec';
import { deleteArgs, jumpTarget, parseTableListing, type ListedRule } from './iptables-rules';

type Table = 'nat' | 'filter';

/**
 * portmap and firewall create top-level chains (CNI-HOSTPORT-*, CNI-FORWARD, CNI-ADMIN) that
 * their DEL never removes, because other containers — of this node, of another berth node on the
 * same machine, or of any other CNI user — may share them. Once a node's last task is gone berth
 * removes them too, but only when nobody uses them any more:
 * - portmap's chains when CNI-HOSTPORT-DNAT holds no mapping;
 * - firewall's chains when CNI-FORWARD holds only its jump to CNI-ADMIN and CNI-ADMIN is empty
 *   (rules there are an operator's overrides and keep both chains).
 * The plugins recreate everything on their next ADD. A concurrent ADD by another node between
 * the check and the removal can lose its jump rules; nodes sharing one network namespace should
 * not tear down and set up at the same instant.
 */
export async function pruneIdleCniChains(): Promise<void> {
  await prunePortmapChains();
  await pruneFirewallChains();
}

async function prunePortmapChains(): Promise<void> {
  const dnat = await listChain('nat', 'CNI-HOSTPORT-DNAT');
  if (dnat === undefined || dnat.length > 0) return;
  await deleteJumps('nat', 'PREROUTING', 'CNI-HOSTPORT-DNAT');
  await deleteJumps('nat', 'OUTPUT', 'CNI-HOSTPORT-DNAT');
  await deleteJumps('nat', 'POSTROUTING', 'CNI-HOSTPORT-MASQ');
  for (const chain of ['CNI-HOSTPORT-DNAT', 'CNI-HOSTPORT-MASQ', 'CNI-HOSTPORT-SETMARK']) {
    await removeChain('nat', chain);
  }
}

async function pruneFirewallChains(): Promise<void> {
  const forward = await listChain('filter', 'CNI-FORWARD');
  if (forward === undefined || forward.some((r) => jumpTarget(r) !== 'CNI-ADMIN')) return;
  const admin = await listChain('filter', 'CNI-ADMIN');
  if (admin !== undefined && admin.length > 0) return;
  await deleteJumps('filter', 'FORWARD', 'CNI-FORWARD');
  await removeChain('filter', 'CNI-FORWARD');
  await removeChain('filter', 'CNI-ADMIN');
}

/**
 * The chain's rules, or undefined when the chain does not exist. Lists the whole table: for a
 * missing chain iptables-nft answers "incompatible" rather than "no such chain".
 */
async function listChain(table: Table, chain: string): Promise<ListedRule[] | undefined> {
  const run = await iptables(['-t', table, '-S']);
  if (run.exitCode !== 0) throw new NetworkSetupError(`cannot list iptables table ${table}: ${run.stderr.trim()}`);
  const listing = parseTableListing(run.stdout);
  if (!listing.chains.has(chain)) return undefined;
  return listing.rules.filter((r) => r.chain === chain);
}

async function deleteJumps(table: Table, chain: string, target: string): Promise<void> {
  const rules = (await listChain(table, chain)) ?? [];
  for (const rule of rules.filter((r) => jumpTarget(r) === target)) {
    const run = await iptables(['-t', table, ...deleteArgs(rule)]);
    if (run.exitCode !== 0 && !isMissing(run.stderr)) {
      throw new NetworkSetupError(`cannot delete iptables rule in ${table}/${chain}: ${run.stderr.trim()}`);
    }
  }
}

/**
 * Flushes and deletes a shared chain. A chain something else still jumps to (a leaked chain of
 * another CNI user) cannot be deleted; it stays, which is harmless: the plugins reuse it.
 */
async function removeChain(table: Table, chain: string): Promise<void> {
  const flush = await iptables(['-t', table, '-F', chain]);
  if (flush.exitCode !== 0) return;
  await iptables(['-t', table, '-X', chain]);
}

function iptables(args: readonly string[]) {
  // -w: wait for the xtables lock instead of failing while a plugin holds it.
  return runHostTool('iptables', ['-w', ...args]);
}

function isMissing(stderr: string): boolean {
  return /no chain|does not exist|bad rule|doesn't exist|incompatible/i.test(stderr);
}

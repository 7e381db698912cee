import { NetworkSetupError } from './errors';
import { iptables, isMissing, listTable } from './iptables-cli';
import { deleteArgs, jumpTarget, type ListedRule, type Table } from './iptables-rules';

const PORTMAP_CHAINS = ['CNI-HOSTPORT-DNAT', 'CNI-HOSTPORT-MASQ', 'CNI-HOSTPORT-SETMARK'];

/**
 * portmap creates top-level chains (CNI-HOSTPORT-*) that its DEL never removes, because other
 * containers — of this node, of another berth node on the same machine, or of any other CNI user
 * — may share them. Once a node's last task is gone berth removes them too, but only when
 * nobody uses them any more: when CNI-HOSTPORT-DNAT holds no mapping. portmap recreates them on
 * its next ADD. A concurrent ADD by another node between the check and the removal can lose its
 * jump rules; nodes sharing one network namespace should not tear down and set up at the same
 * instant. (berth's own node-wide rules are not shared: see node-rules.ts.)
 */
export async function pruneIdlePortmapChains(): Promise<void> {
  const dnat = await listChain('nat', 'CNI-HOSTPORT-DNAT');
  if (dnat === undefined || dnat.length > 0) return;
  await deleteJumps('nat', 'PREROUTING', 'CNI-HOSTPORT-DNAT');
  await deleteJumps('nat', 'OUTPUT', 'CNI-HOSTPORT-DNAT');
  await deleteJumps('nat', 'POSTROUTING', 'CNI-HOSTPORT-MASQ');
  for (const chain of PORTMAP_CHAINS) await removeChain('nat', chain);
}

/** The chain's rules, or undefined when the chain does not exist. */
async function listChain(table: Table, chain: string): Promise<ListedRule[] | undefined> {
  const listing = await listTable(table);
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
 * another CNI user) cannot be deleted; it stays, which is harmless: portmap reuses it.
 */
async function removeChain(table: Table, chain: string): Promise<void> {
  const flush = await iptables(['-t', table, '-F', chain]);
  if (flush.exitCode !== 0) return;
  await iptables(['-t', table, '-X', chain]);
}

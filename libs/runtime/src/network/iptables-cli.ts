import { NetworkSetupError } from './errors';
import { runHostTool, type ToolRun } from './exec';
import { parseTableListing, type Table, type TableListing } from './iptables-rules';

/**
 * Runs iptables. `-w`: wait for the xtables lock instead of failing while a CNI plugin or
 * another node's agent holds it. Failures are data (see runHostTool).
 */
export function iptables(args: readonly string[]): Promise<ToolRun> {
  return runHostTool('iptables', ['-w', ...args]);
}

/**
 * A table's chains and rules (`iptables -t TABLE -S`). Lists the whole table: for a missing
 * chain iptables-nft answers "incompatible" rather than "no such chain". Throws
 * NetworkSetupError when iptables cannot list it.
 */
export async function listTable(table: Table): Promise<TableListing> {
  const run = await iptables(['-t', table, '-S']);
  if (run.exitCode !== 0) throw new NetworkSetupError(`cannot list iptables table ${table}: ${run.stderr.trim()}`);
  return parseTableListing(run.stdout);
}

/** iptables refused because the chain or rule it was asked about is not there. */
export function isMissing(stderr: string): boolean {
  return /no chain|does not exist|bad rule|doesn't exist|incompatible/i.test(stderr);
}

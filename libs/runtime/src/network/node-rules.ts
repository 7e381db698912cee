import { createHash } from 'node:crypto';
import type { NodeNetworkConfig } from './config';
import { NetworkSetupError } from './errors';
import { iptables, isMissing, listTable } from './iptables-cli';
import { deleteArgs, jumpTarget, type ListedRule, type Table, type TableListing } from './iptables-rules';

/**
 * The node's own iptables rules, one set for its whole subnet instead of one per task: what the
 * bridge plugin's `ipMasq` and the firewall plugin did for each task, at the cost of a few
 * iptables runs per bridge instead of a dozen per task.
 *
 *   nat     POSTROUTING -s SUBNET -m comment --comment "berth network N: …" -j BERTH-MASQ-h
 *           BERTH-MASQ-h  -d SUBNET -j ACCEPT               (task to task: untouched)
 *           BERTH-MASQ-h  ! -d 224.0.0.0/4 -j MASQUERADE    (anywhere else but multicast)
 *   filter  FORWARD (first) -m comment --comment "berth network N: …" -j BERTH-FWD-h
 *           BERTH-FWD-h   -s SUBNET -j ACCEPT
 *           BERTH-FWD-h   -d SUBNET -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
 *
 * `h` is hashed from the CNI network name, so nodes sharing one iptables never touch each
 * other's chains.
 */

/** One of the node's chains and the rule that jumps to it from a built-in chain. */
export interface NodeChain {
  readonly table: Table;
  readonly name: string;
  /** The chain's rules in order: the arguments after `-A NAME`. */
  readonly rules: readonly (readonly string[])[];
  readonly jump: {
    readonly from: string;
    /** The arguments after `-A FROM`, as `iptables -S` prints them. */
    readonly spec: readonly string[];
    /** Insert as the first rule of `from` rather than append. */
    readonly first: boolean;
  };
}

export interface NodeChains {
  readonly masquerade: NodeChain;
  readonly forward: NodeChain;
}

/** Tasks may talk multicast on the local network unmasqueraded, as with the bridge plugin's ipMasq. */
const MULTICAST = '224.0.0.0/4';
// The comment match takes at most 255 characters; node names have no length limit.
const MAX_COMMENT = 255;

/** The node's chains. Pure: the same network name and subnet always give the same rules. */
export function nodeChains(node: Pick<NodeNetworkConfig, 'networkName' | 'subnet'>): NodeChains {
  const hash = createHash('sha256').update(node.networkName).digest('hex').slice(0, 8);
  const comment = (what: string) => ['-m', 'comment', '--comment', `berth network ${node.networkName}: ${what}`.slice(0, MAX_COMMENT)];
  const masq = `BERTH-MASQ-${hash}`;
  const fwd = `BERTH-FWD-${hash}`;
  return {
    masquerade: {
      table: 'nat',
      name: masq,
      rules: [
        ['-d', node.subnet, '-j', 'ACCEPT'],
        ['!', '-d', MULTICAST, '-j', 'MASQUERADE'],
      ],
      // Appended: portmap inserts its CNI-HOSTPORT-MASQ jump first, and it must see localhost
      // and hairpin traffic before this chain's ACCEPT ends the nat table for task-to-task traffic.
      jump: { from: 'POSTROUTING', spec: ['-s', node.subnet, ...comment('masquerade task traffic leaving the subnet'), '-j', masq], first: false },
    },
    forward: {
      table: 'filter',
      name: fwd,
      rules: [
        ['-s', node.subnet, '-j', 'ACCEPT'],
        ['-d', node.subnet, '-m', 'conntrack', '--ctstate', 'RELATED,ESTABLISHED', '-j', 'ACCEPT'],
      ],
      // First: ahead of anything that drops (dockerd sets FORWARD's policy to DROP and adds rules).
      jump: { from: 'FORWARD', spec: [...comment('accept task traffic'), '-j', fwd], first: true },
    },
  };
}

/**
 * The iptables commands (`-t TABLE …`) that make `listing` hold `chain` exactly: created if
 * missing, refilled if its rules differ, one jump to it — stale jumps (an old subnet, a
 * duplicate) are deleted. Empty when everything is in place.
 */
export function planEnsure(listing: TableListing, chain: NodeChain): string[][] {
  const t = ['-t', chain.table];
  const commands: string[][] = [];
  const current = listing.rules.filter((r) => r.chain === chain.name).map((r) => r.spec);
  const exists = listing.chains.has(chain.name);
  const upToDate = exists && current.length === chain.rules.length && current.every((spec, i) => sameArgs(spec, chain.rules[i] ?? []));
  if (!exists) commands.push([...t, '-N', chain.name]);
  else if (!upToDate) commands.push([...t, '-F', chain.name]);
  if (!upToDate) for (const rule of chain.rules) commands.push([...t, '-A', chain.name, ...rule]);
  const jumps = jumpsTo(listing, chain.name);
  const wanted = jumps.find((r) => r.chain === chain.jump.from && sameArgs(r.spec, chain.jump.spec));
  for (const stale of jumps.filter((r) => r !== wanted)) commands.push([...t, ...deleteArgs(stale)]);
  if (!wanted) commands.push([...t, ...(chain.jump.first ? ['-I', chain.jump.from, '1'] : ['-A', chain.jump.from]), ...chain.jump.spec]);
  return commands;
}

/** The iptables commands that remove `chain` and every jump to it from `listing`; empty when it is not there. */
export function planRemoval(listing: TableListing, chain: Pick<NodeChain, 'table' | 'name'>): string[][] {
  const t = ['-t', chain.table];
  const commands = jumpsTo(listing, chain.name).map((r) => [...t, ...deleteArgs(r)]);
  if (listing.chains.has(chain.name)) commands.push([...t, '-F', chain.name], [...t, '-X', chain.name]);
  return commands;
}

/**
 * Whether a failed command's work is done anyway: the chain to create exists, the rule or chain
 * to delete is gone (another instance of the same node got there first).
 */
export function alreadyDone(command: readonly string[], stderr: string): boolean {
  const op = command[2]; // after -t TABLE, as the plans write them
  if (op === '-N') return /already exists/i.test(stderr);
  return (op === '-D' || op === '-F' || op === '-X') && isMissing(stderr);
}

/**
 * Makes the node's rules match its config: the masquerade chain always; the forward chain when
 * `firewall` is on, none when it is off. Idempotent: rules in place are left alone, so it is safe
 * while tasks run (an agent that restarted). Called before a node's first task is wired up.
 * Throws NetworkSetupError naming the iptables command that failed.
 */
export async function ensureNodeRules(node: NodeNetworkConfig): Promise<void> {
  const { masquerade, forward } = nodeChains(node);
  await apply(planEnsure(await listTable('nat'), masquerade));
  const filter = await listTable('filter');
  await apply(node.firewall ? planEnsure(filter, forward) : planRemoval(filter, forward));
}

/**
 * Removes the node's chains and the jumps to them, whatever its config says now. Idempotent:
 * removing what is not there succeeds. Called with the bridge's removal. Throws NetworkSetupError.
 */
export async function removeNodeRules(node: NodeNetworkConfig): Promise<void> {
  const { masquerade, forward } = nodeChains(node);
  await apply(planRemoval(await listTable('nat'), masquerade));
  await apply(planRemoval(await listTable('filter'), forward));
}

async function apply(commands: readonly string[][]): Promise<void> {
  for (const command of commands) {
    const run = await iptables(command);
    if (run.exitCode !== 0 && !alreadyDone(command, run.stderr)) {
      throw new NetworkSetupError(`iptables ${command.join(' ')} failed: ${run.stderr.trim() || `exit ${run.exitCode}`}`);
    }
  }
}

function jumpsTo(listing: TableListing, chain: string): ListedRule[] {
  return listing.rules.filter((r) => r.chain !== chain && jumpTarget(r) === chain);
}

function sameArgs(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

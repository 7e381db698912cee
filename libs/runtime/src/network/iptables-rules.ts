/**
 * Pure helpers over `iptables -t TABLE -S` listings, e.g.
 *   -N CNI-HOSTPORT-DNAT
 *   -A PREROUTING -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT
 */

/** The iptables tables berth touches. */
export type Table = 'nat' | 'filter';

/** One appended rule: its chain and its specification (the arguments after `-A CHAIN`). */
export interface ListedRule {
  readonly chain: string;
  readonly spec: readonly string[];
}

/** Splits one listing line into arguments the way a shell would (double quotes, backslash escapes). */
export function splitRuleLine(line: string): string[] {
  const args: string[] = [];
  let current = '';
  let quoted = false;
  let started = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i] as string;
    if (c === '\\' && i + 1 < line.length) {
      current += line[++i];
      started = true;
    } else if (c === '"') {
      quoted = !quoted;
      started = true;
    } else if (/\s/.test(c) && !quoted) {
      if (started) args.push(current);
      current = '';
      started = false;
    } else {
      current += c;
      started = true;
    }
  }
  if (started) args.push(current);
  return args;
}

/** A table's chains (built-in and user-defined) and its `-A` rules, from `iptables -t T -S`. */
export interface TableListing {
  readonly chains: ReadonlySet<string>;
  readonly rules: readonly ListedRule[];
}

export function parseTableListing(listing: string): TableListing {
  const lines = listing.split('\n').map(splitRuleLine);
  const chains = lines.filter((a) => (a[0] === '-N' || a[0] === '-P') && a[1] !== undefined).map((a) => a[1] as string);
  return { chains: new Set(chains), rules: listedRules(listing) };
}

/** The `-A` rules of a listing (policy and chain-creation lines are skipped). */
export function listedRules(listing: string): ListedRule[] {
  return listing
    .split('\n')
    .map(splitRuleLine)
    .filter((args) => args[0] === '-A' && args.length >= 2)
    .map((args) => ({ chain: args[1] as string, spec: args.slice(2) }));
}

/** The `-j` target of a rule, if any. */
export function jumpTarget(rule: ListedRule): string | undefined {
  const i = rule.spec.indexOf('-j');
  return i >= 0 ? rule.spec[i + 1] : undefined;
}

/** Arguments that delete `rule` again: `-D CHAIN <spec>`. */
export function deleteArgs(rule: ListedRule): string[] {
  return ['-D', rule.chain, ...rule.spec];
}

import { describe, expect, it } from 'vitest';
import { deleteArgs, jumpTarget, listedRules, parseTableListing, splitRuleLine } from './iptables-rules';

describe('iptables listings', () => {
  const listing = [
    '-P PREROUTING ACCEPT',
    '-N CNI-FORWARD',
    '-A CNI-FORWARD -m comment --comment "CNI firewall plugin admin overrides" -j CNI-ADMIN',
    '-A POSTROUTING -s 10.211.0.2/32 -m comment --comment "name: \\"berth-a\\" id: \\"t1\\"" -j CNI-12df07a2',
    '',
  ].join('\n');

  it('splits quoted comments and escaped quotes like a shell', () => {
    expect(splitRuleLine('-m comment --comment "name: \\"berth-a\\" id: \\"t1\\"" -j X')).toEqual([
      '-m', 'comment', '--comment', 'name: "berth-a" id: "t1"', '-j', 'X',
    ]);
    expect(splitRuleLine('--comment ""')).toEqual(['--comment', '']);
  });

  it('lists appended rules with their jump targets and builds the matching delete', () => {
    const rules = listedRules(listing);
    expect(rules.map(jumpTarget)).toEqual(['CNI-ADMIN', 'CNI-12df07a2']);
    expect(deleteArgs(rules[0]!)).toEqual([
      '-D', 'CNI-FORWARD', '-m', 'comment', '--comment', 'CNI firewall plugin admin overrides', '-j', 'CNI-ADMIN',
    ]);
  });

  it('knows which chains a table has, so a missing chain is told apart from an empty one', () => {
    const table = parseTableListing(listing);
    expect([...table.chains]).toEqual(['PREROUTING', 'CNI-FORWARD']);
    expect(table.rules.filter((r) => r.chain === 'CNI-FORWARD')).toHaveLength(1);
  });
});

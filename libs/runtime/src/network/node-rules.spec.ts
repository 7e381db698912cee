import { describe, expect, it } from 'vitest';
import { resolveNodeNetworkConfig } from './config';
import { parseTableListing } from './iptables-rules';
import { alreadyDone, nodeChains, planEnsure, planRemoval, type NodeChain } from './node-rules';

const nodeA = resolveNodeNetworkConfig({ nodeName: 'node-a', ipamDataDir: '/x', subnet: '10.211.0.0/16' });
const nodeB = resolveNodeNetworkConfig({ nodeName: 'node-b', ipamDataDir: '/y', subnet: '10.212.0.0/16' });
const { masquerade, forward } = nodeChains(nodeA);
const M = masquerade.name;
const F = forward.name;

/** What `iptables -t TABLE -S` prints, from the lines after the built-in policies. */
const listing = (...lines: string[]) => parseTableListing(['-P POSTROUTING ACCEPT', '-P FORWARD ACCEPT', ...lines].join('\n'));
/** The jump to the node's chain, and the whole chain, as `iptables -S` prints them once `planEnsure` ran. */
const jumpLine = (c: NodeChain) => `-A ${c.jump.from} ${c.jump.spec.map((a) => (/\s/.test(a) ? `"${a}"` : a)).join(' ')}`;
const applied = (c: NodeChain) => [`-N ${c.name}`, jumpLine(c), ...c.rules.map((r) => `-A ${c.name} ${r.join(' ')}`)];

describe('nodeChains', () => {
  it('names one chain per node, hashed from its network name, short enough for iptables', () => {
    expect(M).toMatch(/^BERTH-MASQ-[0-9a-f]{8}$/);
    expect(F).toMatch(/^BERTH-FWD-[0-9a-f]{8}$/);
    expect(M.slice(-8)).toBe(F.slice(-8));
    expect(nodeChains(nodeB).masquerade.name).not.toBe(M);
    expect(nodeChains(nodeA)).toEqual(nodeChains({ ...nodeA }));
  });

  it('masquerades what leaves the subnet, except multicast, and leaves task-to-task traffic alone', () => {
    expect(masquerade.table).toBe('nat');
    expect(masquerade.rules).toEqual([
      ['-d', '10.211.0.0/16', '-j', 'ACCEPT'],
      ['!', '-d', '224.0.0.0/4', '-j', 'MASQUERADE'],
    ]);
    expect(masquerade.jump).toEqual({
      from: 'POSTROUTING',
      first: false,
      spec: ['-s', '10.211.0.0/16', '-m', 'comment', '--comment', 'berth network berth-node-a: masquerade task traffic leaving the subnet', '-j', M],
    });
  });

  it('accepts traffic from the subnet and replies to it, ahead of anything else in FORWARD', () => {
    expect(forward.table).toBe('filter');
    expect(forward.rules).toEqual([
      ['-s', '10.211.0.0/16', '-j', 'ACCEPT'],
      ['-d', '10.211.0.0/16', '-m', 'conntrack', '--ctstate', 'RELATED,ESTABLISHED', '-j', 'ACCEPT'],
    ]);
    expect(forward.jump).toMatchObject({ from: 'FORWARD', first: true, spec: ['-m', 'comment', '--comment', 'berth network berth-node-a: accept task traffic', '-j', F] });
  });

  it('keeps the comment within the 255 characters iptables allows', () => {
    const long = resolveNodeNetworkConfig({ nodeName: 'n'.repeat(300), ipamDataDir: '/x' });
    const comment = nodeChains(long).masquerade.jump.spec[5] as string;
    expect(comment).toHaveLength(255);
    expect(comment.startsWith('berth network berth-nnn')).toBe(true);
  });
});

describe('planEnsure', () => {
  it('creates the chain, fills it, then jumps to it: appended to POSTROUTING, first in FORWARD', () => {
    expect(planEnsure(listing(), masquerade)).toEqual([
      ['-t', 'nat', '-N', M],
      ['-t', 'nat', '-A', M, '-d', '10.211.0.0/16', '-j', 'ACCEPT'],
      ['-t', 'nat', '-A', M, '!', '-d', '224.0.0.0/4', '-j', 'MASQUERADE'],
      ['-t', 'nat', '-A', 'POSTROUTING', ...masquerade.jump.spec],
    ]);
    expect(planEnsure(listing(), forward).at(-1)).toEqual(['-t', 'filter', '-I', 'FORWARD', '1', ...forward.jump.spec]);
  });

  it('does nothing when the rules are already in place, as iptables lists them (an agent that restarted)', () => {
    expect(planEnsure(listing(...applied(masquerade)), masquerade)).toEqual([]);
    expect(planEnsure(listing(...applied(forward)), forward)).toEqual([]);
  });

  it('leaves other chains and rules alone: portmap, another node, an operator', () => {
    const others = [
      '-N CNI-HOSTPORT-MASQ',
      '-A POSTROUTING -m comment --comment "CNI portfwd requiring masquerade" -j CNI-HOSTPORT-MASQ',
      ...applied(nodeChains(nodeB).masquerade),
      '-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE',
    ];
    expect(planEnsure(listing(...others, ...applied(masquerade)), masquerade)).toEqual([]);
    expect(planEnsure(listing(...others), masquerade)).toEqual(planEnsure(listing(), masquerade));
  });

  it('repairs drift: refills a chain whose rules differ, deletes stale and duplicate jumps', () => {
    const drifted = listing(`-N ${M}`, `-A POSTROUTING -s 10.99.0.0/16 -j ${M}`, jumpLine(masquerade), jumpLine(masquerade), `-A ${M} -d 10.99.0.0/16 -j ACCEPT`);
    expect(planEnsure(drifted, masquerade)).toEqual([
      ['-t', 'nat', '-F', M],
      ['-t', 'nat', '-A', M, '-d', '10.211.0.0/16', '-j', 'ACCEPT'],
      ['-t', 'nat', '-A', M, '!', '-d', '224.0.0.0/4', '-j', 'MASQUERADE'],
      ['-t', 'nat', '-D', 'POSTROUTING', '-s', '10.99.0.0/16', '-j', M],
      ['-t', 'nat', '-D', 'POSTROUTING', ...masquerade.jump.spec],
    ]);
  });
});

describe('planRemoval', () => {
  it('deletes every jump to the chain, then flushes and deletes it', () => {
    expect(planRemoval(listing(...applied(masquerade), `-A OUTPUT -j ${M}`), masquerade)).toEqual([
      ['-t', 'nat', '-D', 'POSTROUTING', ...masquerade.jump.spec],
      ['-t', 'nat', '-D', 'OUTPUT', '-j', M],
      ['-t', 'nat', '-F', M],
      ['-t', 'nat', '-X', M],
    ]);
  });

  it('has nothing to do when the chain is gone, and never touches another node', () => {
    expect(planRemoval(listing(), forward)).toEqual([]);
    expect(planRemoval(listing(...applied(nodeChains(nodeB).forward)), forward)).toEqual([]);
  });
});

describe('alreadyDone', () => {
  it('counts "already exists" for a new chain and "missing" for a deletion as done, nothing else', () => {
    expect(alreadyDone(['-t', 'nat', '-N', M], 'iptables: Chain already exists.')).toBe(true);
    expect(alreadyDone(['-t', 'nat', '-D', 'POSTROUTING', '-j', M], 'iptables: Bad rule (does a matching rule exist in that chain?).')).toBe(true);
    expect(alreadyDone(['-t', 'nat', '-X', M], 'iptables: No chain/target/match by that name.')).toBe(true);
    expect(alreadyDone(['-t', 'nat', '-A', M, '-j', 'ACCEPT'], 'iptables: No chain/target/match by that name.')).toBe(false);
    expect(alreadyDone(['-t', 'nat', '-X', M], 'CHAIN_DEL failed (Device or resource busy)')).toBe(false);
  });
});

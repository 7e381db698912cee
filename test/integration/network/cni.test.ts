import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { CniNetwork, HostPortInUseError, isHostPortFree, type NetworkAttachment } from '@berth/runtime';
import { isCI, requireTools } from '../../support/prereq';
import { iptablesRules, linkNames, otherCniNetworks, restoreHost, rulesMentioning, snapshotHost, type HostSnapshot } from './host-state';
import { httpGetFrom, ping, Processes, waitForHttp } from './probes';
import { RemoteHost } from './remote-host';

const NETNS_DIR = '/run/netns';
// This suite's bridges, CNI networks and subnets; other suites may run theirs at the same time.
const OWN_BRIDGES = 'berth-it-';
const OWN_NETWORKS = ['berth-it-a', 'berth-it-b', 'berth-it-c', 'berth-it-d', 'berth-it-e', 'berth-it-f'];
const OWN_MARKS = [...OWN_NETWORKS, '10.231.0.', '10.232.0.', '10.233.0.', '10.235.0.', '10.237.0.'];
const ready = requireTools(['ip', 'iptables', 'iptables-save', 'nft', 'nsenter', 'unshare', 'busybox'], { root: true })
  && cniPluginsInstalled();

function cniPluginsInstalled(): boolean {
  if (existsSync('/usr/lib/cni/bridge')) return true;
  if (isCI) throw new Error('/usr/lib/cni/bridge is missing (install containernetworking-plugins)');
  console.warn('skipping: /usr/lib/cni/bridge is missing (install containernetworking-plugins)');
  return false;
}

describe.runIf(ready)('CniNetwork (bridge + host-local + portmap, node-wide masquerade and FORWARD rules)', () => {
  const processes = new Processes();
  const networks: CniNetwork[] = [];
  let work: string;
  let before: HostSnapshot;
  let linksBefore: string[];
  let nodeA: CniNetwork;
  let nodeB: CniNetwork;
  let hostPort: number;

  const node = (name: string, bridge: string, subnet: string, firewall?: boolean): CniNetwork => {
    const n = new CniNetwork({ nodeName: name, bridge, subnet, ipamDataDir: join(work, name, 'ipam'), netnsDir: NETNS_DIR, firewall });
    networks.push(n);
    return n;
  };
  const leases = (n: CniNetwork): string[] => {
    const dir = join(n.config.ipamDataDir, n.config.networkName);
    return existsSync(dir) ? readdirSync(dir).filter((f) => /^\d+\.\d+\.\d+\.\d+$/.test(f)) : [];
  };
  const site = (text: string): string => {
    const dir = mkdtempSync(join(work, 'www-'));
    writeFileSync(join(dir, 'index.html'), `${text}\n`);
    return dir;
  };
  const serve = async (a: NetworkAttachment, text: string): Promise<void> => {
    processes.httpdIn(a.netnsPath, site(text));
    await waitForHttp(a.ip as string, 8080);
  };

  /** Every node chain seen during the run, to prove none is left, not even empty. */
  const nodeChainsSeen = new Set<string>();
  /**
   * The node's own rules as an operator finds them in iptables-save: the jumps whose comment
   * names its network, and the rules of the chains they lead to.
   */
  const nodeRules = (n: CniNetwork) => {
    const lines = iptablesRules().split('\n');
    const jumps = (from: string) => lines.filter((l) => l.startsWith(`-A ${from} `) && l.includes(`"berth network ${n.config.networkName}: `));
    const rulesOf = (jump: string | undefined) => {
      const chain = jump === undefined ? undefined : / -j (\S+)$/.exec(jump)?.[1];
      if (chain === undefined) return [];
      nodeChainsSeen.add(chain);
      return lines.filter((l) => l.startsWith(`-A ${chain} `)).map((l) => l.slice(`-A ${chain} `.length));
    };
    const [masquerade, forward] = [jumps('POSTROUTING'), jumps('FORWARD')];
    return { masquerade, masqueradeChain: rulesOf(masquerade[0]), forward, forwardChain: rulesOf(forward[0]) };
  };
  /** Exactly one masquerade rule set for the node's subnet, and (with firewall) one FORWARD accept set. */
  const expectNodeRules = (n: CniNetwork): void => {
    const { subnet } = n.config;
    const rules = nodeRules(n);
    expect(rules.masquerade).toHaveLength(1);
    expect(rules.masquerade[0]).toMatch(new RegExp(`^-A POSTROUTING -s ${subnet.replace(/\./g, '\\.')} -m comment `));
    expect(rules.masqueradeChain).toEqual([`-d ${subnet} -j ACCEPT`, '! -d 224.0.0.0/4 -j MASQUERADE']);
    expect(rules.forward).toHaveLength(n.config.firewall ? 1 : 0);
    expect(rules.forwardChain).toEqual(n.config.firewall ? [`-s ${subnet} -j ACCEPT`, `-d ${subnet} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`] : []);
  };
  const expectNoNodeRules = (n: CniNetwork): void => {
    expect(nodeRules(n)).toEqual({ masquerade: [], masqueradeChain: [], forward: [], forwardChain: [] });
  };

  /** Nothing of this suite is left: links, rules; and the shared CNI chains are gone too unless another suite's network still uses them. */
  const expectNoTrace = (): void => {
    expect(linkNames(OWN_BRIDGES)).toEqual(linksBefore);
    expect(rulesMentioning(OWN_MARKS)).toEqual([]);
    const rules = iptablesRules();
    expect([...nodeChainsSeen].filter((c) => rules.includes(`:${c} `))).toEqual([]);
    if (otherCniNetworks(OWN_NETWORKS).length === 0) expect(rules).toBe(before.iptables);
  };

  beforeAll(async () => {
    before = snapshotHost(NETNS_DIR);
    linksBefore = linkNames(OWN_BRIDGES);
    work = mkdtempSync(join(tmpdir(), 'berth-net-'));
    nodeA = node('it-a', 'berth-it-a', '10.231.0.0/24');
    nodeB = node('it-b', 'berth-it-b', '10.232.0.0/24');
    hostPort = await freeTcpPort();
  });

  afterAll(async () => {
    // Every step runs even when an earlier one fails; the first failure is reported at the end.
    const failures: unknown[] = [];
    const step = async (fn: () => unknown) => {
      try {
        await fn();
      } catch (e) {
        failures.push(e);
      }
    };
    await step(() => processes.killAll());
    for (const n of networks) await step(() => n.destroyNode());
    await step(() => restoreHost(before, NETNS_DIR));
    await step(() => rmSync(work, { recursive: true, force: true }));
    await step(expectNoTrace);
    if (failures.length > 0) throw failures[0];
  });

  let a1: NetworkAttachment;
  let a2: NetworkAttachment;
  let b1: NetworkAttachment;

  it('gives each task its own namespace and a distinct address in the node subnet', async () => {
    a1 = await nodeA.setUp('web.1.a1', [{ containerPort: 8080, hostPort, protocol: 'tcp' }]);
    a2 = await nodeA.setUp('web.2.a2', [{ containerPort: 8080, protocol: 'tcp' }]);
    expect(a1.netnsPath).toBe(join(NETNS_DIR, 'berth-web.1.a1'));
    expect(existsSync(a1.netnsPath) && existsSync(a2.netnsPath)).toBe(true);
    expect(a1.ip).toMatch(/^10\.231\.0\.\d+$/);
    expect(a2.ip).toMatch(/^10\.231\.0\.\d+$/);
    expect(a1.ip).not.toBe(a2.ip);
    expect(leases(nodeA).sort()).toEqual([a1.ip, a2.ip].sort());
    expect(await nodeA.setUp('web.1.a1', a1.ports)).toEqual(a1);
  });

  it("installs the node's masquerade and FORWARD rules once, ahead of everything else in FORWARD", () => {
    // Two setUps (one publishing a port), one set of rules.
    expectNodeRules(nodeA);
    const [forwardJump] = nodeRules(nodeA).forward;
    expect(iptablesRules().split('\n').find((l) => l.startsWith('-A FORWARD '))).toBe(forwardJump);
    expect(forwardJump).toContain('--comment "berth network berth-it-a: ');
  });

  it('reaches servers inside the namespaces from the host, and the namespaces reach each other', async () => {
    await serve(a1, 'task a1');
    await serve(a2, 'task a2');
    expect(await waitForHttp(a1.ip as string, 8080)).toBe('task a1');
    await ping(a2.ip as string);
    await ping(a2.ip as string, a1.netnsPath);
    expect(await httpGetFrom(a2.netnsPath, a1.ip as string, 8080)).toBe('task a1');
  });

  it('masquerades what leaves the subnet, not task-to-task traffic, and gets through a FORWARD that drops the rest', async () => {
    const remote = await RemoteHost.create({ netnsPath: join(NETNS_DIR, 'berth-it-remote'), link: 'berth-it-rh', net: '10.236.0' });
    const subnet = nodeA.config.subnet;
    // What a FORWARD policy of DROP (dockerd's) does to the tasks' traffic, limited to this suite's subnet.
    const drops = [['-s', subnet, '-j', 'DROP'], ['-d', subnet, '-j', 'DROP']];
    try {
      await processes.peerAddressServerIn(remote.netnsPath, 9000);
      await processes.peerAddressServerIn(a1.netnsPath, 9000);
      // The remote host has no route to the subnet: it answers because it sees the host's address.
      expect(await httpGetFrom(a2.netnsPath, remote.address, 9000)).toBe(remote.hostAddress);
      expect(await httpGetFrom(a2.netnsPath, a1.ip as string, 9000)).toBe(a2.ip);
      for (const rule of drops) execFileSync('iptables', ['-w', '-A', 'FORWARD', ...rule]);
      expect(await httpGetFrom(a2.netnsPath, remote.address, 9000)).toBe(remote.hostAddress);
      expect(await httpGetFrom(a2.netnsPath, a1.ip as string, 9000)).toBe(a2.ip);
    } finally {
      for (const rule of drops) {
        try {
          execFileSync('iptables', ['-w', '-D', 'FORWARD', ...rule], { stdio: 'ignore' });
        } catch {
          // never added: the test failed before
        }
      }
      await remote.destroy();
    }
  });

  it('keeps one set of node rules however many tasks come and go side by side', async () => {
    const many = await Promise.all(Array.from({ length: 12 }, (_, i) => nodeA.setUp(`batch.${i}.m`, [])));
    expect(new Set(many.map((a) => a.ip)).size).toBe(12);
    expectNodeRules(nodeA);
    await Promise.all(many.map((a) => nodeA.tearDown(a)));
    // a1 and a2 still run: their rules stay.
    expectNodeRules(nodeA);
    expect(leases(nodeA).sort()).toEqual([a1.ip, a2.ip].sort());
  });

  it('publishes the hostPort on 127.0.0.1 and on the bridge address, and holds it for the task', async () => {
    expect(await waitForHttp('127.0.0.1', hostPort)).toBe('task a1');
    expect(await waitForHttp('10.231.0.1', hostPort)).toBe('task a1');
    expect(await isHostPortFree(hostPort, 'tcp')).toBe(false);
    const clash = nodeA.setUp('web.3.clash', [{ containerPort: 8080, hostPort, protocol: 'tcp' }]);
    await expect(clash).rejects.toThrow(`host port ${hostPort}/tcp is already in use on node it-a`);
    expect(existsSync(join(NETNS_DIR, 'berth-web.3.clash'))).toBe(false);
  });

  it('refuses a host port another process holds, and leaves nothing behind', async () => {
    const busyPort = await freeTcpPort();
    await processes.listenerOnHost(busyPort);
    const links = linkNames(OWN_BRIDGES);
    const rules = rulesMentioning(OWN_MARKS);
    const attempt = nodeA.setUp('web.4.busy', [
      { containerPort: 80, hostPort: await freeTcpPort(), protocol: 'tcp' },
      { containerPort: 8080, hostPort: busyPort, protocol: 'tcp' },
    ]);
    await expect(attempt).rejects.toBeInstanceOf(HostPortInUseError);
    await expect(attempt).rejects.toThrow(`host port ${busyPort}/tcp is already in use on node it-a`);
    expect(existsSync(join(NETNS_DIR, 'berth-web.4.busy'))).toBe(false);
    expect(linkNames(OWN_BRIDGES)).toEqual(links);
    expect(rulesMentioning(OWN_MARKS)).toEqual(rules);
    expect(leases(nodeA).sort()).toEqual([a1.ip, a2.ip].sort());
  });

  it('fails before creating anything when a plugin binary is missing', async () => {
    const emptyBinDir = mkdtempSync(join(work, 'no-plugins-'));
    const broken = new CniNetwork({ nodeName: 'it-x', bridge: 'berth-it-x', subnet: '10.234.0.0/24', ipamDataDir: join(work, 'it-x'), cniBinDir: emptyBinDir });
    const port = await freeTcpPort();
    const attempt = broken.setUp('web.6.x', [{ containerPort: 8080, hostPort: port, protocol: 'tcp' }]);
    await expect(attempt).rejects.toThrow(`CNI plugin "bridge" ADD failed: ${emptyBinDir}/bridge does not exist or is not executable`);
    expect(existsSync(join(NETNS_DIR, 'berth-web.6.x'))).toBe(false);
    expect(await isHostPortFree(port, 'tcp')).toBe(true);
  });

  it('runs a second node with its own bridge and subnet side by side', async () => {
    b1 = await nodeB.setUp('api.1.b1', [{ containerPort: 8080, protocol: 'tcp' }]);
    expect(b1.ip).toMatch(/^10\.232\.0\.\d+$/);
    await serve(b1, 'task b1');
    expect(linkNames(OWN_BRIDGES)).toEqual(expect.arrayContaining(['berth-it-a', 'berth-it-b']));
    expect(await waitForHttp(a1.ip as string, 8080)).toBe('task a1');
    expectNodeRules(nodeB);
    expectNodeRules(nodeA);
    expect(nodeRules(nodeB).masquerade[0]).not.toBe(nodeRules(nodeA).masquerade[0]);
  });

  it("removes a node's rules with its last task even when another network's tasks keep the bridge", async () => {
    // Off-design (each node should have its own bridge), but nothing prevents two CNI networks
    // on one bridge and subnet. The guest's leases start at .100 so the addresses differ.
    const owner = node('it-e', 'berth-it-e', '10.237.0.0/24');
    const guest = node('it-f', 'berth-it-e', '10.237.0.0/24');
    mkdirSync(join(guest.config.ipamDataDir, guest.config.networkName), { recursive: true });
    writeFileSync(join(guest.config.ipamDataDir, guest.config.networkName, 'last_reserved_ip.0'), '10.237.0.99');
    const e1 = await owner.setUp('web.9.e1', []);
    const f1 = await guest.setUp('web.9.f1', []);
    expect([e1.ip, f1.ip]).toEqual(['10.237.0.2', '10.237.0.100']);
    expectNodeRules(owner);
    expectNodeRules(guest);
    await guest.tearDown(f1);
    expectNoNodeRules(guest);
    expectNodeRules(owner);
    expect(linkNames(OWN_BRIDGES)).toContain('berth-it-e');
    await owner.tearDown(e1);
    expectNoNodeRules(owner);
    expect(linkNames(OWN_BRIDGES)).not.toContain('berth-it-e');
  });

  it("takes the node's rules away again when its first setUp fails after making them", async () => {
    // A link that is not a bridge under the bridge's name: bridge ADD fails once the rules exist.
    execFileSync('ip', ['link', 'add', 'berth-it-d', 'type', 'veth', 'peer', 'name', 'berth-it-dp']);
    try {
      const clash = node('it-d', 'berth-it-d', '10.235.0.0/24');
      await expect(clash.setUp('db.3.d1', [])).rejects.toThrow(/^CNI plugin "bridge" ADD failed/);
      expect(existsSync(join(NETNS_DIR, 'berth-db.3.d1'))).toBe(false);
      expect(leases(clash)).toEqual([]);
      expectNoNodeRules(clash);
    } finally {
      execFileSync('sh', ['-c', 'ip link del berth-it-d 2>/dev/null || true']);
    }
    expectNodeRules(nodeA);
  });

  it('rolls back everything when a plugin fails, and names the plugin', async () => {
    // A /30 holds one task address next to the gateway: the second ADD runs out of addresses.
    const tiny = node('it-c', 'berth-it-c', '10.233.0.0/30', false);
    const c1 = await tiny.setUp('db.1.c1', []);
    // firewall: false — masquerading, but no FORWARD rules.
    expectNodeRules(tiny);
    const port = await freeTcpPort();
    const links = linkNames(OWN_BRIDGES);
    const rules = rulesMentioning(OWN_MARKS);
    const failed = tiny.setUp('db.2.c2', [{ containerPort: 5432, hostPort: port, protocol: 'tcp' }]);
    await expect(failed).rejects.toThrow(/^CNI plugin "bridge" ADD failed.*no IP addresses available/);
    expect(existsSync(join(NETNS_DIR, 'berth-db.2.c2'))).toBe(false);
    expect(linkNames(OWN_BRIDGES)).toEqual(links);
    expect(rulesMentioning(OWN_MARKS)).toEqual(rules);
    expect(await isHostPortFree(port, 'tcp')).toBe(true);
    expect(leases(tiny)).toEqual([c1.ip]);
    await tiny.tearDown(c1);
    expect(linkNames(OWN_BRIDGES)).not.toContain('berth-it-c');
    expectNoNodeRules(tiny);
  });

  it('tears down idempotently: no namespace, veth, lease or rule is left, and the last task takes the bridge', async () => {
    await processes.killAll();
    await nodeA.tearDown(a2);
    expect(existsSync(a2.netnsPath)).toBe(false);
    expect(leases(nodeA)).toEqual([a1.ip]);
    expect(linkNames(OWN_BRIDGES)).toContain('berth-it-a');
    expectNodeRules(nodeA);

    await nodeA.tearDown(a1);
    await nodeA.tearDown(a1);
    // nodeA's last task took its rules along; nodeB's task still has its own.
    expectNoNodeRules(nodeA);
    expectNodeRules(nodeB);
    await nodeB.tearDown(b1);
    expectNoNodeRules(nodeB);
    expect(existsSync(a1.netnsPath) || existsSync(b1.netnsPath)).toBe(false);
    expect(leases(nodeA)).toEqual([]);
    expect(leases(nodeB)).toEqual([]);
    expect(await isHostPortFree(hostPort, 'tcp')).toBe(true);
    expectNoTrace();
  });

  it('destroyNode removes the bridge, namespaces, leases and rules of a node with tasks left', async () => {
    const udpPort = await freeTcpPort();
    const t1 = await nodeB.setUp('api.2.b2', [
      { containerPort: 8080, hostPort: await freeTcpPort(), protocol: 'tcp' },
      { containerPort: 53, hostPort: udpPort, protocol: 'udp' },
    ]);
    const t2 = await nodeB.setUp('api.3.b3', []);
    expect(await isHostPortFree(udpPort, 'udp')).toBe(false);
    expect(iptablesRules()).toContain(`--dport ${udpPort} -j DNAT --to-destination ${t1.ip}:53`);
    expectNodeRules(nodeB);
    await nodeB.destroyNode();
    expectNoNodeRules(nodeB);
    await nodeB.destroyNode();
    expect(existsSync(t1.netnsPath) || existsSync(t2.netnsPath)).toBe(false);
    expect(existsSync(join(nodeB.config.ipamDataDir, nodeB.config.networkName))).toBe(false);
    expect(await isHostPortFree(udpPort, 'udp')).toBe(true);
    expectNoTrace();
  });

  it('rebuilds a namespace an agent left behind mid-setUp; a restarted agent adopts tasks from their state', async () => {
    const first = await nodeA.setUp('web.5.left', [{ containerPort: 8080, protocol: 'tcp' }]);
    // From here nodeA plays an agent that died: a new instance with the same config knows nothing.
    // (nodeA stays in `networks`: should a test fail, its destroyNode cleans up what it knows.)
    const restarted = node('it-a', 'berth-it-a', '10.231.0.0/24');
    const rebuilt = await restarted.setUp('web.5.left', first.ports);
    // The restarted agent ensured the rules again and found them in place.
    expectNodeRules(restarted);
    expect(rebuilt.netnsPath).toBe(first.netnsPath);
    expect(leases(restarted)).toEqual([rebuilt.ip]);
    await serve(rebuilt, 'rebuilt');

    const adopter = node('it-a', 'berth-it-a', '10.231.0.0/24');
    await adopter.adopt(rebuilt);
    expect(await adopter.setUp('web.5.left', rebuilt.ports)).toEqual(rebuilt);
    expect(await waitForHttp(rebuilt.ip as string, 8080)).toBe('rebuilt');

    await processes.killAll();
    await adopter.tearDown(rebuilt);
    expect(existsSync(rebuilt.netnsPath)).toBe(false);
    expect(leases(adopter)).toEqual([]);
    expectNoNodeRules(adopter);
    expectNoTrace();
  });
});

async function freeTcpPort(): Promise<number> {
  const { createServer } = await import('node:net');
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen({ port: 0, host: '0.0.0.0' }, () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CniNetwork, HostPortInUseError, isHostPortFree, type NetworkAttachment } from '@berth/runtime';
import { isCI, requireTools } from '../../support/prereq';
import { iptablesRules, linkNames, otherCniNetworks, restoreHost, rulesMentioning, snapshotHost, type HostSnapshot } from './host-state';
import { httpGetFrom, ping, Processes, waitForHttp } from './probes';

const NETNS_DIR = '/run/netns';
// This suite's bridges, CNI networks and subnets; other suites may run theirs at the same time.
const OWN_BRIDGES = 'berth-it-';
const OWN_NETWORKS = ['berth-it-a', 'berth-it-b', 'berth-it-c'];
const OWN_MARKS = [...OWN_NETWORKS, '10.231.0.', '10.232.0.', '10.233.0.'];
const ready = requireTools(['ip', 'iptables', 'iptables-save', 'nft', 'nsenter', 'unshare', 'busybox'], { root: true })
  && cniPluginsInstalled();

function cniPluginsInstalled(): boolean {
  if (existsSync('/usr/lib/cni/bridge')) return true;
  if (isCI) throw new Error('/usr/lib/cni/bridge is missing (install containernetworking-plugins)');
  console.warn('skipping: /usr/lib/cni/bridge is missing (install containernetworking-plugins)');
  return false;
}

describe.runIf(ready)('CniNetwork (bridge + host-local + portmap + firewall)', () => {
  const processes = new Processes();
  const networks: CniNetwork[] = [];
  let work: string;
  let before: HostSnapshot;
  let linksBefore: string[];
  let nodeA: CniNetwork;
  let nodeB: CniNetwork;
  let hostPort: number;

  const node = (name: string, bridge: string, subnet: string): CniNetwork => {
    const n = new CniNetwork({ nodeName: name, bridge, subnet, ipamDataDir: join(work, name, 'ipam'), netnsDir: NETNS_DIR });
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

  /** Nothing of this suite is left: links, rules; and the shared CNI chains are gone too unless another suite's network still uses them. */
  const expectNoTrace = (): void => {
    expect(linkNames(OWN_BRIDGES)).toEqual(linksBefore);
    expect(rulesMentioning(OWN_MARKS)).toEqual([]);
    if (otherCniNetworks(OWN_NETWORKS).length === 0) expect(iptablesRules()).toBe(before.iptables);
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

  it('reaches servers inside the namespaces from the host, and the namespaces reach each other', async () => {
    await serve(a1, 'task a1');
    await serve(a2, 'task a2');
    expect(await waitForHttp(a1.ip as string, 8080)).toBe('task a1');
    await ping(a2.ip as string);
    await ping(a2.ip as string, a1.netnsPath);
    expect(await httpGetFrom(a2.netnsPath, a1.ip as string, 8080)).toBe('task a1');
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
  });

  it('rolls back everything when a plugin fails, and names the plugin', async () => {
    // A /30 holds one task address next to the gateway: the second ADD runs out of addresses.
    const tiny = node('it-c', 'berth-it-c', '10.233.0.0/30');
    const c1 = await tiny.setUp('db.1.c1', []);
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
  });

  it('tears down idempotently: no namespace, veth, lease or rule is left, and the last task takes the bridge', async () => {
    await processes.killAll();
    await nodeA.tearDown(a2);
    expect(existsSync(a2.netnsPath)).toBe(false);
    expect(leases(nodeA)).toEqual([a1.ip]);
    expect(linkNames(OWN_BRIDGES)).toContain('berth-it-a');

    await nodeA.tearDown(a1);
    await nodeA.tearDown(a1);
    await nodeB.tearDown(b1);
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
    await nodeB.destroyNode();
    await nodeB.destroyNode();
    expect(existsSync(t1.netnsPath) || existsSync(t2.netnsPath)).toBe(false);
    expect(existsSync(join(nodeB.config.ipamDataDir, nodeB.config.networkName))).toBe(false);
    expect(await isHostPortFree(udpPort, 'udp')).toBe(true);
    expectNoTrace();
  });

  it('rebuilds a namespace an agent left behind mid-setUp; a restarted agent adopts tasks from their state', async () => {
    const first = await nodeA.setUp('web.5.left', [{ containerPort: 8080, protocol: 'tcp' }]);
    // From here nodeA plays an agent that died: a new instance with the same config knows nothing.
    networks.splice(networks.indexOf(nodeA), 1);
    const restarted = node('it-a', 'berth-it-a', '10.231.0.0/24');
    const rebuilt = await restarted.setUp('web.5.left', first.ports);
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

import { describe, expect, it } from 'vitest';
import { buildCniConfigs } from './cni-config';
import { netnsPathFor, resolveNodeNetworkConfig } from './config';
import { InvalidNetworkConfigError } from './errors';

const nodeA = resolveNodeNetworkConfig({ nodeName: 'node-a', ipamDataDir: '/var/lib/berth/a/ipam' });

describe('resolveNodeNetworkConfig', () => {
  it('fills defaults that stay clear of Docker networks', () => {
    expect(nodeA).toEqual({
      nodeName: 'node-a',
      networkName: 'berth-node-a',
      bridge: 'berth0',
      subnet: '10.211.0.0/16',
      ipamDataDir: '/var/lib/berth/a/ipam',
      cniBinDir: '/usr/lib/cni',
      netnsDir: '/run/netns',
      firewall: true,
    });
  });

  it.each([
    [{ bridge: 'a-bridge-name-too-long' }, /bridge: "a-bridge-name-too-long" is not a valid interface name/],
    [{ bridge: 'br/0' }, /bridge/],
    [{ subnet: '10.211.0.0' }, /subnet: "10.211.0.0" is not an IPv4 CIDR/],
    [{ subnet: '10.211.0.1/16' }, /host bits set/],
    [{ subnet: '10.300.0.0/16' }, /octet above 255/],
    [{ subnet: '10.0.0.0/31' }, /prefix must be between \/8 and \/30/],
    [{ nodeName: '../etc' }, /nodeName/],
    [{ ipamDataDir: 'relative/ipam' }, /ipamDataDir: "relative\/ipam" must be an absolute path/],
    [{ netnsDir: 'netns' }, /netnsDir/],
  ])('rejects %o', (override, message) => {
    const options = { nodeName: 'n1', ipamDataDir: '/x', ...override };
    expect(() => resolveNodeNetworkConfig(options)).toThrow(InvalidNetworkConfigError);
    expect(() => resolveNodeNetworkConfig(options)).toThrow(message);
  });

  it('accepts a 15-character bridge name and a /24 subnet', () => {
    const c = resolveNodeNetworkConfig({ nodeName: 'n1', ipamDataDir: '/x', bridge: 'abcdefghijklmno', subnet: '10.212.7.0/24' });
    expect(c.bridge).toBe('abcdefghijklmno');
    expect(c.subnet).toBe('10.212.7.0/24');
  });

  it('names task namespaces berth-<task> under netnsDir and refuses ids that escape it', () => {
    expect(netnsPathFor(nodeA, 'web.1.x7k2')).toBe('/run/netns/berth-web.1.x7k2');
    expect(() => netnsPathFor(nodeA, '../../etc/passwd')).toThrow(/taskId/);
  });
});

describe('buildCniConfigs', () => {
  it('chains only bridge when no port is published, and leaves masquerading to the node-wide rule', () => {
    const chain = buildCniConfigs(nodeA, [{ containerPort: 8080, protocol: 'tcp' }]);
    expect(chain.map((c) => c.type)).toEqual(['bridge']);
    expect(chain[0]).toMatchObject({
      cniVersion: '1.0.0',
      name: 'berth-node-a',
      bridge: 'berth0',
      isGateway: true,
      ipMasq: false,
      hairpinMode: true,
      ipam: { type: 'host-local', ranges: [[{ subnet: '10.211.0.0/16' }]], dataDir: '/var/lib/berth/a/ipam' },
    });
  });

  it('adds portmap after bridge, with the published ports only', () => {
    const chain = buildCniConfigs(nodeA, [
      { containerPort: 8080, hostPort: 18080, protocol: 'tcp' },
      { containerPort: 9090, protocol: 'tcp' },
      { containerPort: 53, hostPort: 1053, protocol: 'udp' },
    ]);
    expect(chain.map((c) => c.type)).toEqual(['bridge', 'portmap']);
    expect(chain[1]).toMatchObject({
      name: 'berth-node-a',
      snat: true,
      capabilities: { portMappings: true },
      runtimeConfig: {
        portMappings: [
          { hostPort: 18080, containerPort: 8080, protocol: 'tcp' },
          { hostPort: 1053, containerPort: 53, protocol: 'udp' },
        ],
      },
    });
  });

  it('gives each node its own network name, bridge, subnet and lease directory', () => {
    const nodeB = resolveNodeNetworkConfig({ nodeName: 'node-b', ipamDataDir: '/var/lib/berth/b/ipam', bridge: 'berth1', subnet: '10.212.0.0/16' });
    const [a] = buildCniConfigs(nodeA, []);
    const [b] = buildCniConfigs(nodeB, []);
    expect(b).toMatchObject({ name: 'berth-node-b', bridge: 'berth1', ipam: { ranges: [[{ subnet: '10.212.0.0/16' }]], dataDir: '/var/lib/berth/b/ipam' } });
    expect([a?.name, a?.bridge]).not.toEqual([b?.name, b?.bridge]);
  });

  it('never chains the firewall plugin: with firewall on or off, the node-wide FORWARD rules decide', () => {
    const noFirewall = resolveNodeNetworkConfig({ nodeName: 'n1', ipamDataDir: '/x', firewall: false });
    const ports = [{ containerPort: 80, hostPort: 8080, protocol: 'tcp' as const }];
    expect(buildCniConfigs(noFirewall, ports)).toEqual(buildCniConfigs({ ...noFirewall, firewall: true }, ports));
    expect(buildCniConfigs(nodeA, ports).map((c) => c.type)).not.toContain('firewall');
  });

  it('is deterministic, so DEL after an agent restart gets the very same configs', () => {
    const ports = [{ containerPort: 80, hostPort: 8080, protocol: 'tcp' as const }];
    expect(JSON.stringify(buildCniConfigs(nodeA, ports))).toBe(JSON.stringify(buildCniConfigs(nodeA, ports)));
  });
});

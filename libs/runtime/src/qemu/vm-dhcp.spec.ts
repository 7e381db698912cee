import { describe, expect, it } from 'vitest';
import { dhcpServerConfig, prefixMask } from './vm-dhcp';

describe('dhcpServerConfig', () => {
  const files = { config: '/t/dhcp.conf', pidFile: '/t/dhcp.pid', leaseFile: '/t/dhcp.leases' };

  it('offers the task address to the guest MAC alone, with its netmask, gateway and an infinite lease', () => {
    const text = dhcpServerConfig({ address: '10.88.0.7/24', gateway: '10.88.0.1', mac: '0a:58:0a:58:00:07' }, files);
    expect(text.split('\n')).toEqual([
      'interface vmbr0',
      'start 10.88.0.7',
      'end 10.88.0.7',
      'max_leases 1',
      'static_lease 0a:58:0a:58:00:07 10.88.0.7',
      'option subnet 255.255.255.0',
      'option router 10.88.0.1',
      'option lease 4294967295',
      'lease_file /t/dhcp.leases',
      'pidfile /t/dhcp.pid',
      '',
    ]);
  });

  it('refuses an address without a prefix length', () => {
    expect(() => dhcpServerConfig({ address: '10.88.0.7', gateway: '10.88.0.1', mac: '0a:58:0a:58:00:07' }, files)).toThrow(/ADDRESS\/PREFIX/);
  });
});

describe('prefixMask', () => {
  it.each([
    [0, '0.0.0.0'],
    [8, '255.0.0.0'],
    [20, '255.255.240.0'],
    [24, '255.255.255.0'],
    [31, '255.255.255.254'],
    [32, '255.255.255.255'],
  ])('/%i is %s', (prefix, mask) => expect(prefixMask(prefix)).toBe(mask));

  it.each([-1, 33, 1.5])('refuses /%s', (prefix) => expect(() => prefixMask(prefix)).toThrow(/prefix length must be 0–32/));
});

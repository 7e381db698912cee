import { describe, expect, it } from 'vitest';
import { UsageError } from '../errors';
import { collectLabel, collectRegistry, nodeNameFromHost, parseAddress, parseAgentServer, parseBridge, parseNodeName, parseSubnet, parseUsernsBase } from './agent-args';

describe('nodeNameFromHost', () => {
  it.each([
    ['box', 'box'],
    ['Build-Host.example.com', 'build-host'],
    ['my_host 01', 'my-host-01'],
    ['-weird-', 'weird'],
    ['___', 'node'],
    ['a'.repeat(80), 'a'.repeat(63)],
  ])('%s → %s', (host, name) => {
    expect(nodeNameFromHost(host)).toBe(name);
    expect(() => parseNodeName(name)).not.toThrow();
  });
});

describe('agent flags', () => {
  it('collects labels and registries, refusing malformed ones', () => {
    expect(collectLabel('disk=ssd', collectLabel('zone=a', undefined))).toEqual({ zone: 'a', disk: 'ssd' });
    expect(() => collectLabel('zone', undefined)).toThrow('--label must be KEY=VALUE (got "zone")');
    expect(() => collectLabel('zone=a b', undefined)).toThrow(UsageError);
    expect(collectRegistry('127.0.0.1:5000', ['r:1'])).toEqual(['r:1', '127.0.0.1:5000']);
    expect(() => collectRegistry('127.0.0.1', undefined)).toThrow(/--insecure-registry must be HOST:PORT/);
  });

  it('checks the server, name, address, bridge and subnet', () => {
    expect(parseAgentServer('10.0.0.1:7071')).toBe('10.0.0.1:7071');
    expect(parseAgentServer('[::1]:7071')).toBe('[::1]:7071');
    expect(() => parseAgentServer('10.0.0.1')).toThrow(/--server must be HOST:PORT/);
    expect(() => parseNodeName('Node_1')).toThrow(/--name must be a DNS-1123 label/);
    expect(parseAddress('10.0.0.5')).toBe('10.0.0.5');
    expect(() => parseAddress('host')).toThrow('--address must be an IP address (got "host")');
    expect(parseBridge('berth-n1')).toBe('berth-n1');
    expect(() => parseBridge('a-very-long-bridge-name')).toThrow(/at most 15 characters/);
    expect(parseSubnet('10.212.0.0/16')).toBe('10.212.0.0/16');
    expect(() => parseSubnet('10.212.0.0/31')).toThrow(/\/8 to \/30/);
    expect(() => parseSubnet('300.1.1.1/16')).toThrow(UsageError);
    expect(parseUsernsBase('0x70000000')).toBe(1_879_048_192);
    expect(parseUsernsBase('6553600')).toBe(100 * 65536);
    for (const bad of ['0', '100000000', '0x80000000', '-65536', 'lots']) expect(() => parseUsernsBase(bad)).toThrow(/--userns-base must be a multiple of 65536/);
  });
});

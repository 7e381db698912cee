import { describe, expect, it } from 'vitest';
import { advertisedMetricsAddress, registrationFromHello } from './assignments';

describe('advertisedMetricsAddress', () => {
  it("puts the node's address in place of a wildcard host", () => {
    expect(advertisedMetricsAddress('0.0.0.0:9101', '10.0.0.2')).toBe('10.0.0.2:9101');
    expect(advertisedMetricsAddress('[::]:9101', 'fd00::2')).toBe('[fd00::2]:9101');
    expect(advertisedMetricsAddress(':9101', '10.0.0.2')).toBe('10.0.0.2:9101');
  });

  it('keeps a specific host', () => {
    expect(advertisedMetricsAddress('127.0.0.1:9102', '10.0.0.2')).toBe('127.0.0.1:9102');
    expect(advertisedMetricsAddress('[fd00::9]:9101', '10.0.0.2')).toBe('[fd00::9]:9101');
  });
});

describe('registrationFromHello', () => {
  const hello = { nodeName: 'n2', agentVersion: '0.1.0', address: '10.0.0.2', capacity: { cpuMillis: 2000, memoryBytes: 2 ** 30 }, drivers: ['runc'], runtimes: ['container'], labels: {}, metricsAddress: '0.0.0.0:9101', tasks: [], driverDetails: {} };

  it("records the agent's version and where its metrics are", () => {
    expect(registrationFromHello(hello)).toMatchObject({ agentVersion: '0.1.0', metricsAddress: '10.0.0.2:9101' });
  });

  it("records what a driver says about itself, and nothing when the agent says nothing", () => {
    expect(registrationFromHello({ ...hello, drivers: ['runc', 'qemu'], driverDetails: { qemu: 'probing' } })).toMatchObject({ drivers: ['runc', 'qemu'], driverDetails: { qemu: 'probing' } });
    expect(registrationFromHello(hello)).not.toHaveProperty('driverDetails');
  });

  it('records no metrics address for an agent that exports none', () => {
    expect(registrationFromHello({ ...hello, metricsAddress: '' })).not.toHaveProperty('metricsAddress');
  });
});

import { describe, expect, it } from 'vitest';
import type { NodeInfo } from '@berth/core';
import { discoveryTargets, labelName } from './service-discovery';

const node = (name: string, over: Partial<NodeInfo> = {}): NodeInfo => ({
  name, labels: {}, availability: 'active', state: 'ready', address: '10.0.0.1', capacity: { cpuMillis: 1000, memoryBytes: 2 ** 30 }, drivers: ['runc'], resourceVersion: '1', ...over,
});

describe('discoveryTargets', () => {
  it('lists every control plane and every agent that exports metrics, down ones included, with their labels', () => {
    const groups = discoveryTargets(
      [{ id: 'cp-1', apiUrl: 'http://127.0.0.1:7070', version: '0.1.0' }],
      [
        node('n2', { metricsAddress: '10.0.0.2:9101', labels: { zone: 'b', 'topology.berth/rack': 'r1' }, state: 'down' }),
        node('n1', { metricsAddress: '10.0.0.1:9101' }),
        node('n3'),
      ],
    );
    expect(groups).toEqual([
      { targets: ['127.0.0.1:7070'], labels: { __scheme__: 'http', __meta_berth_role: 'control-plane', __meta_berth_member: 'cp-1', __meta_berth_version: '0.1.0' } },
      { targets: ['10.0.0.1:9101'], labels: { __scheme__: 'http', __meta_berth_role: 'agent', __meta_berth_node: 'n1', __meta_berth_node_state: 'ready' } },
      {
        targets: ['10.0.0.2:9101'],
        labels: { __scheme__: 'http', __meta_berth_role: 'agent', __meta_berth_node: 'n2', __meta_berth_node_state: 'down', __meta_berth_node_label_zone: 'b', __meta_berth_node_label_topology_berth_rack: 'r1' },
      },
    ]);
  });

  it('keeps an https control plane https', () => {
    expect(discoveryTargets([{ id: 'a', apiUrl: 'https://cp.example:8443', version: 'x' }], [])[0]!.labels.__scheme__).toBe('https');
  });
});

describe('labelName', () => {
  it('turns a node label key into a Prometheus label name', () => {
    expect(labelName('kubernetes.io/hostname-x')).toBe('kubernetes_io_hostname_x');
  });
});

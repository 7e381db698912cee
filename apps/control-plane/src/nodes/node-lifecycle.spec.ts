import { describe, expect, it } from 'vitest';
import type { NodeInfo } from '@berth/core';
import { NodeLifecycle } from './node-lifecycle';

const T0 = Date.parse('2026-01-01T00:00:00Z');
const TERM = '100';

const node = (state: NodeInfo['state'], over: Partial<NodeInfo> = {}): NodeInfo => ({
  name: 'n1', labels: {}, availability: 'active', state, address: '10.0.0.1',
  capacity: { cpuMillis: 1000, memoryBytes: 2 ** 30 }, drivers: ['runc'], resourceVersion: '1', ...over,
});

function lifecycle(graceMs = 15_000) {
  let now = T0;
  const l = new NodeLifecycle({ graceMs, termRevision: TERM, now: () => now });
  return { l, advance: (ms: number) => (now += ms) };
}

describe('NodeLifecycle', () => {
  it('declares a node down at once when a session it saw begin in this term ends', () => {
    const { l, advance } = lifecycle();
    l.observe(node('ready', { sessionRevision: '101' }));
    advance(1234);
    l.observe(node('unknown'));
    expect(l.view(node('unknown'))).toMatchObject({ state: 'down', downSince: new Date(T0 + 1234).toISOString() });
  });

  it('keeps a node whose session predates the term unknown until the grace ends (a leader change replaces nothing)', () => {
    const { l, advance } = lifecycle(15_000);
    l.observe(node('ready', { sessionRevision: '42' }));
    l.observe(node('unknown'));
    expect(l.view(node('unknown')).state).toBe('unknown');
    advance(14_999);
    expect(l.view(node('unknown')).state).toBe('unknown');
    advance(1);
    // Down since its key went (this term saw that), acted on only now.
    expect(l.view(node('unknown'))).toMatchObject({ state: 'down', downSince: new Date(T0).toISOString() });
  });

  it('dates the loss of a node connected since before the term by when its key went, once the grace is over', () => {
    const { l, advance } = lifecycle(15_000);
    l.observe(node('ready', { sessionRevision: '42' })); // bound before this leader won
    advance(60_000);
    l.observe(node('unknown'));
    expect(l.view(node('unknown'))).toMatchObject({ state: 'down', downSince: new Date(T0 + 60_000).toISOString() });
  });

  it('treats a node that reconnects during the grace as seen: it is down at once when it goes again', () => {
    const { l } = lifecycle(15_000);
    l.observe(node('unknown'));
    l.observe(node('ready', { sessionRevision: '150' }));
    expect(l.view(node('ready', { sessionRevision: '150' })).state).toBe('ready');
    l.observe(node('unknown'));
    expect(l.view(node('unknown')).state).toBe('down');
  });

  it('dates a node absent since the term began by the end of the grace', () => {
    const { l, advance } = lifecycle(15_000);
    l.observe(node('unknown'));
    advance(15_000);
    expect(l.view(node('unknown'))).toMatchObject({ state: 'down', downSince: new Date(T0 + 15_000).toISOString() });
  });

  it('keeps a node a previous leader declared down unknown during the grace, then down since that time', () => {
    const { l, advance } = lifecycle(15_000);
    const recorded = node('down', { downSince: '2025-12-31T23:00:00.000Z' });
    l.observe(recorded);
    expect(l.view(recorded).state).toBe('unknown');
    advance(15_000);
    expect(l.view(recorded)).toMatchObject({ state: 'down', downSince: '2025-12-31T23:00:00.000Z' });
  });

  it('makes a returning node ready again', () => {
    const { l } = lifecycle();
    l.observe(node('ready', { sessionRevision: '101' }));
    l.observe(node('unknown'));
    l.observe(node('ready', { sessionRevision: '120' }));
    expect(l.view(node('ready', { sessionRevision: '120' })).state).toBe('ready');
  });
});

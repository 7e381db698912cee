import { describe, expect, it } from 'vitest';
import { capabilitiesInMask, capabilityBit, LINUX_CAPABILITIES } from './security';

describe('capabilitiesInMask', () => {
  it('reads a /proc/PID/status mask bit by bit', () => {
    expect(capabilitiesInMask('000001ffffffffff')).toEqual([...LINUX_CAPABILITIES]);
    // A node that is itself a container without CAP_SYS_RESOURCE (bit 24).
    const held = capabilitiesInMask('000001fffeffffff');
    expect(held).toHaveLength(40);
    expect(held).not.toContain('CAP_SYS_RESOURCE');
    expect(capabilitiesInMask('0000000000000400')).toEqual(['CAP_NET_BIND_SERVICE']);
    expect(capabilitiesInMask('')).toEqual([]);
    expect(capabilityBit('CAP_SYS_RESOURCE')).toBe(24);
  });
});

import { describe, expect, it } from 'vitest';
import { cachedAcceleration, probeQemuArgs } from './accel';

describe('the acceleration cache', () => {
  const key = { bootId: 'b1', qemu: '/usr/bin/qemu-system-x86_64', kernel: '/boot/vmlinuz-6.1.0-9-amd64' };
  const file = JSON.stringify({ ...key, accel: 'kvm', reason: 'booted in 300 ms', probedAt: '2025-01-01T00:00:00Z' });

  it('answers for the same boot, QEMU and kernel', () => {
    expect(cachedAcceleration(file, key)).toEqual({ accel: 'kvm', reason: 'booted in 300 ms' });
  });

  it('does not after a reboot, or for another QEMU or kernel, or for a file it cannot read', () => {
    expect(cachedAcceleration(file, { ...key, bootId: 'b2' })).toBeUndefined();
    expect(cachedAcceleration(file, { ...key, qemu: '/opt/qemu' })).toBeUndefined();
    expect(cachedAcceleration(file, { ...key, kernel: '/boot/vmlinuz-6.2' })).toBeUndefined();
    expect(cachedAcceleration('', key)).toBeUndefined();
    expect(cachedAcceleration('{"accel":', key)).toBeUndefined();
    expect(cachedAcceleration(JSON.stringify({ ...key, accel: 'hvf', reason: 'x' }), key)).toBeUndefined();
  });
});

describe('probeQemuArgs', () => {
  it('boots the kit under KVM with only the status port and a console file', () => {
    const args = probeQemuArgs({ status: '/d/probe-1/status', console: '/d/probe-1/console.log' }, { kernel: '/k', initrd: '/i', append: 'quiet' });
    expect(args.join(' ')).toContain('-accel kvm');
    expect(args).toContain('virtserialport,chardev=st,name=berth.status');
    expect(args).toContain('file:/d/probe-1/console.log');
    expect(args).not.toContain('-fsdev');
    expect(args).not.toContain('-daemonize');
  });
});

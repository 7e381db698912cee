import { describe, expect, it } from 'vitest';
import { diskCommandLine, overlayCommand } from './vm-disk';

describe('overlayCommand', () => {
  it('makes a qcow2 overlay backed by the base image in its own format: the base is only read', () => {
    expect(overlayCommand('/img/debian.raw', 'raw', '/data/tasks/t/disk.qcow2')).toEqual([
      'qemu-img', 'create', '-q', '-f', 'qcow2', '-F', 'raw', '-b', '/img/debian.raw', '/data/tasks/t/disk.qcow2',
    ]);
    expect(overlayCommand('/img/debian.qcow2', 'qcow2', '/o.qcow2')).toContain('qcow2');
  });
});

describe('diskCommandLine', () => {
  const net = { address: '10.0.0.5/24', gateway: '10.0.0.1', mac: '02:00:00:00:00:01' };

  it("gives the disk-root init the task's address, then the user's arguments last", () => {
    const line = diskCommandLine(net, '  quiet root=/dev/vda1 ');
    expect(line).toMatch(/^console=ttyS0 .*panic=-1 berth\.ip=10\.0\.0\.5\/24 berth\.gw=10\.0\.0\.1 berth\.mac=02:00:00:00:00:01 quiet root=\/dev\/vda1$/);
  });

  it('has no network arguments without a network, and nothing extra without a cmdline', () => {
    expect(diskCommandLine(undefined)).not.toContain('berth.');
    expect(diskCommandLine(undefined, '')).toMatch(/panic=-1$/);
  });
});

import { describe, expect, it } from 'vitest';
import { cniErrorFromOutput, parseCniResult, resultFromAddress, taskIpv4 } from './cni-result';
import { CniPluginError } from './errors';

// What the distribution's bridge plugin (1.1.1) printed for ADD.
const bridgeResult = JSON.stringify({
  cniVersion: '1.0.0',
  interfaces: [
    { name: 'berth0', mac: '0e:4c:4c:89:2a:17' },
    { name: 'vethb57eed53', mac: 'd6:01:74:da:91:bf' },
    { name: 'eth0', mac: '1a:68:ca:90:8e:fb', sandbox: '/run/netns/berth-x1' },
  ],
  ips: [{ interface: 2, address: '10.211.0.2/16', gateway: '10.211.0.1' }],
  routes: [{ dst: '0.0.0.0/0' }],
  dns: {},
});

const out = (over: Partial<{ exitCode: number | null; stdout: string; stderr: string }>) => ({
  plugin: 'bridge',
  command: 'ADD',
  exitCode: 0,
  stdout: '',
  stderr: '',
  ...over,
});

describe('CNI results', () => {
  it('reads the task address from the sandbox interface, without prefix length', () => {
    const result = parseCniResult(out({ stdout: bridgeResult }));
    expect(taskIpv4(result)).toBe('10.211.0.2');
  });

  it('skips IPv6 entries and addresses on host-side interfaces', () => {
    const result = parseCniResult(out({
      stdout: JSON.stringify({
        cniVersion: '1.0.0',
        interfaces: [{ name: 'berth0' }, { name: 'eth0', sandbox: '/run/netns/x' }],
        ips: [
          { interface: 0, address: '10.211.0.1/16' },
          { interface: 1, address: 'fd00::5/64' },
          { interface: 1, address: '10.211.0.9/16' },
        ],
      }),
    }));
    expect(taskIpv4(result)).toBe('10.211.0.9');
  });

  it('has no address when the result carries none', () => {
    expect(taskIpv4(parseCniResult(out({ stdout: '{"cniVersion":"1.0.0"}' })))).toBeUndefined();
  });

  it('refuses a successful exit without a result, naming the plugin', () => {
    expect(() => parseCniResult(out({ stdout: 'ok' }))).toThrow('CNI plugin "bridge" ADD failed: printed no CNI result (stdout: ok)');
  });

  it('rebuilds a result from an address seen in the namespace', () => {
    const r = resultFromAddress('1.0.0', 'eth0', '/run/netns/berth-t', '10.211.0.7/16');
    expect(taskIpv4(r)).toBe('10.211.0.7');
  });
});

describe('CNI errors', () => {
  it('maps the plugin JSON error with code, msg and details', () => {
    const e = cniErrorFromOutput(out({
      exitCode: 1,
      stdout: '{"code":11,"msg":"failed to allocate for range 0","details":"no IP addresses available"}',
    }));
    expect(e).toBeInstanceOf(CniPluginError);
    expect(e.code).toBe('INTERNAL');
    expect(e.cniCode).toBe(11);
    expect(e.message).toBe('CNI plugin "bridge" ADD failed (code 11): failed to allocate for range 0 (no IP addresses available)');
  });

  it('falls back to stderr and the exit code when the plugin did not answer in JSON', () => {
    const e = cniErrorFromOutput({ plugin: 'portmap', command: 'DEL', exitCode: 2, stdout: '', stderr: 'panic: runtime error\n' });
    expect(e.message).toBe('CNI plugin "portmap" DEL failed: exited with 2: panic: runtime error');
    expect(cniErrorFromOutput(out({ exitCode: null })).message).toBe('CNI plugin "bridge" ADD failed: exited with a signal: no output');
  });
});

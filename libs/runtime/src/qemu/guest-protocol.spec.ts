import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { missingTools } from '../../../../test/support/prereq';
import { encodeExecSpec, encodeGuestSpec, EXEC_SPEC_MAX_BYTES, execPortName, guestCommandLine, hostTscKhz, parseExecEnd, parseGuestStatus, type GuestSpec } from './guest-protocol';

const spec: GuestSpec = {
  argv: ['sh', '-c', `echo "it's $HOME" \`id\` \\ ; exit 3`, '', 'two\nlines', '-n'],
  env: { PATH: '/usr/bin:/bin', QUOTE: `a'b"c$d`, EMPTY: '', 'dotted.name': 'x=y' },
  workdir: '/srv/app',
  uid: 1000,
  gid: 100,
  hostname: 'web-1',
  network: { address: '10.211.0.5/16', gateway: '10.211.0.1', mac: '52:54:00:AB:CD:EF' },
};

/** What busybox sh makes of a spec file (the init sources it; here it is read from stdin). */
function sourced(text: string, script: string): string {
  return execFileSync('busybox', ['sh'], { input: `${text}\n${script}\n` }).toString();
}

describe('guest spec', () => {
  it('encodes one shell assignment per field, lists as numbered variables', () => {
    const text = encodeGuestSpec(spec);
    expect(text).toContain(`spec_arg_2='echo "it'\\''s $HOME" \`id\` \\ ; exit 3'\n`);
    expect(text).toMatch(/^spec_version=1$/m);
    expect(text).toMatch(/^spec_uid=1000$/m);
    expect(text).toMatch(/^spec_net_mac='52:54:00:ab:cd:ef'$/m);
    expect(encodeGuestSpec({ ...spec, network: undefined })).not.toContain('spec_net');
  });

  it.skipIf(missingTools(['busybox']).length > 0)('reads back unchanged when busybox sh sources it', () => {
    const text = encodeGuestSpec(spec);
    const dump = `i=0; while [ $i -lt $spec_argc ]; do eval 'v=$spec_arg_'$i; printf '%s\\0' "$v"; i=$((i+1)); done; printf '|'
      i=0; while [ $i -lt $spec_envc ]; do eval 'v=$spec_env_'$i; printf '%s\\0' "$v"; i=$((i+1)); done
      printf '|%s|%s|%s|%s|%s|%s|%s' "$spec_workdir" "$spec_uid" "$spec_gid" "$spec_hostname" "$spec_net_address" "$spec_net_gateway" "$spec_net_mac"`;
    const out = sourced(text, dump);
    const [args, envs, ...fields] = out.split('|');
    expect(args!.split('\0').slice(0, -1)).toEqual(spec.argv);
    expect(envs!.split('\0').slice(0, -1)).toEqual(Object.entries(spec.env).map(([k, v]) => `${k}=${v}`));
    expect(fields).toEqual(['/srv/app', '1000', '100', 'web-1', '10.211.0.5/16', '10.211.0.1', '52:54:00:ab:cd:ef']);
    expect(execFileSync('busybox', ['sh', '-n'], { input: text }).toString()).toBe('');
  });

  it('refuses what the guest cannot carry out, naming every problem', () => {
    const bad: GuestSpec = { ...spec, argv: [], env: { 'A=B': '1', '-x': '2', OK: 'nul\0' }, workdir: 'relative', uid: -1, gid: 1.5, hostname: 'under_score' };
    expect(() => encodeGuestSpec(bad)).toThrow(/argv is empty; env "A=B": .*; env "-x": .*; env "OK": .*; workdir "relative" is not absolute; uid -1 is not an id; gid 1.5 is not an id; hostname "under_score"/);
    const net = (n: Partial<NonNullable<GuestSpec['network']>>) => encodeGuestSpec({ ...spec, network: { ...spec.network!, ...n } });
    expect(() => net({ address: '10.211.0.5' })).toThrow(/not IPv4 CIDR/);
    expect(() => net({ address: '10.211.0.256/16' })).toThrow(/not IPv4 CIDR/);
    expect(() => net({ gateway: 'gw' })).toThrow(/gateway "gw"/);
    expect(() => net({ mac: '52:54:00:ab:cd' })).toThrow(/not a MAC address/);
  });
});

describe('exec spec', () => {
  const argv = ['sh', '-c', `echo "it's $HOME" \`id\`; exit 3`, '', 'two\nlines'];

  it.skipIf(missingTools(['busybox']).length > 0)('reads back unchanged when busybox sh sources it', () => {
    const text = encodeExecSpec({ argv, tty: true, size: { rows: 30, cols: 100 } });
    const out = sourced(text, `i=0; while [ $i -lt $exec_argc ]; do eval 'v=$exec_arg_'$i; printf '%s\\0' "$v"; i=$((i+1)); done; printf '|%s|%s|%s|%s' "$exec_version" "$exec_tty" "$exec_rows" "$exec_cols"`);
    const [args, ...fields] = out.split('|');
    expect(args!.split('\0').slice(0, -1)).toEqual(argv);
    expect(fields).toEqual(['1', '1', '30', '100']);
    expect(encodeExecSpec({ argv, tty: false, size: { rows: 24, cols: 80 } })).toMatch(/^exec_tty=0$/m);
  });

  it('refuses an empty command, NUL bytes and sizes a terminal cannot have', () => {
    expect(() => encodeExecSpec({ argv: [], tty: false, size: { rows: 24, cols: 80 } })).toThrow(/the command is empty/);
    expect(() => encodeExecSpec({ argv: ['a\0b'], tty: true, size: { rows: 0, cols: 70000 } })).toThrow(/NUL byte; terminal rows 0 is not 1–65535; terminal cols 70000/);
    expect(() => encodeExecSpec({ argv: ['echo', 'x'.repeat(EXEC_SPEC_MAX_BYTES)], tty: false, size: { rows: 24, cols: 80 } })).toThrow(/the command is longer than 48 KiB/);
  });

  it('names the ports of each slot', () => {
    expect(execPortName(2, 'err')).toBe('berth.exec.2.err');
  });

  it('reads the end the guest reports, once the line is complete', () => {
    expect(parseExecEnd('exited 3 12 0\n')).toEqual({ kind: 'exited', code: 3, stdoutBytes: 12, stderrBytes: 0 });
    expect(parseExecEnd('error no cgroup for the command\n')).toEqual({ kind: 'error', message: 'no cgroup for the command' });
    expect(parseExecEnd('exited 3 12')).toBeUndefined();
    expect(parseExecEnd('')).toBeUndefined();
    expect(parseExecEnd('exited x\n')).toBeUndefined();
  });
});

describe('guest status', () => {
  it('parses every complete line in order and leaves a torn tail for later', () => {
    const text = 'booted\nrunning 57\nberth noise\nexited 137\nerror mount 9p rootfs on /newroot: No such device\nexit';
    expect(parseGuestStatus(text)).toEqual([
      { kind: 'booted' },
      { kind: 'running', pid: 57 },
      { kind: 'exited', code: 137 },
      { kind: 'error', message: 'mount 9p rootfs on /newroot: No such device' },
    ]);
    expect(parseGuestStatus('')).toEqual([]);
    expect(parseGuestStatus('booted')).toEqual([]);
    expect(parseGuestStatus('booted\r\n')).toEqual([{ kind: 'booted' }]);
  });
});

describe('guest command line', () => {
  it('carries the TCG-safe timer flags and panic=-1, with or without a serial console', () => {
    expect(guestCommandLine({ console: true, tscKhz: null })).toBe('console=ttyS0 loglevel=6 no_timer_check lpj=4000000 tsc=reliable panic=-1');
    expect(guestCommandLine({ console: false, tscKhz: 2596125 })).toBe('8250.nr_uarts=0 loglevel=6 no_timer_check lpj=4000000 tsc=reliable tsc_early_khz=2596125 panic=-1');
  });

  it('tells the guest the host TSC rate by default, when the host has a constant TSC', () => {
    const host = hostTscKhz();
    expect(guestCommandLine({ console: true })).toBe(`console=ttyS0 loglevel=6 no_timer_check lpj=4000000 tsc=reliable${host ? ` tsc_early_khz=${host}` : ''} panic=-1`);
  });

  it('reads the TSC rate from bogomips of a constant-TSC x86 cpuinfo', () => {
    const cpu = (flags: string, bogomips: string) => `processor\t: 0\nmodel name\t: AMD EPYC\ncpu MHz\t\t: 2596.128\nflags\t\t: fpu ${flags} sse2\nbogomips\t: ${bogomips}\n\nprocessor\t: 1\nbogomips\t: 1.00\n`;
    expect(hostTscKhz(cpu('tsc constant_tsc nonstop_tsc', '5192.25'))).toBe(2596125);
    expect(hostTscKhz(cpu('tsc', '5192.25'))).toBeUndefined();
    expect(hostTscKhz('processor\t: 0\nBogoMIPS\t: 48.00\nFeatures\t: fp asimd\n')).toBeUndefined();
    expect(hostTscKhz('')).toBeUndefined();
  });
});

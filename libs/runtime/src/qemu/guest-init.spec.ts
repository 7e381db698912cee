import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CriLineAssembler, parseCriRecord } from '../logs/cri-log';
import { missingTools } from '../../../../test/support/prereq';
import { GUEST_APPLETS, GUEST_INIT_SCRIPT } from './guest-init';
import { GUEST_PORTS, GUEST_SHARES } from './guest-protocol';

const noBusybox = missingTools(['busybox']).length > 0;

/** A shell function of the init, to run on the host. */
function shellFunction(name: string): string {
  const m = new RegExp(`^${name}\\(\\) \\{\\n[\\s\\S]*?^\\}$`, 'm').exec(GUEST_INIT_SCRIPT);
  if (!m) throw new Error(`init has no function ${name}`);
  return m[0];
}

describe('guest init script', () => {
  it('is a busybox sh script that speaks the protocol by its names', () => {
    expect(GUEST_INIT_SCRIPT.startsWith('#!/bin/busybox sh\n')).toBe(true);
    for (const name of [...Object.values(GUEST_PORTS), ...Object.values(GUEST_SHARES)]) expect(GUEST_INIT_SCRIPT).toContain(` ${name} `);
    expect(GUEST_INIT_SCRIPT).toContain('. /berth/spec');
  });

  it.skipIf(noBusybox)('passes `busybox sh -n`', () => {
    expect(() => execFileSync('busybox', ['sh', '-n'], { input: 'if then fi', stdio: 'pipe' })).toThrow(/syntax error/);
    expect(execFileSync('busybox', ['sh', '-n'], { input: GUEST_INIT_SCRIPT }).toString()).toBe('');
  });

  it.skipIf(noBusybox)('links only applets busybox has', () => {
    const applets = execFileSync('busybox', ['--list']).toString().split('\n');
    expect(GUEST_APPLETS.filter((a) => !applets.includes(a))).toEqual([]);
  });

  it.skipIf(noBusybox)('formats each output line as one CRI record with a UTC RFC 3339 time', () => {
    const script = `${shellFunction('civil_date')}\n${shellFunction('cri')}\nprintf 'hello world\\n  indented %%s \\\\n\\n\\nno newline at end' | cri stderr`;
    const before = Date.now();
    const out = execFileSync('busybox', ['sh', '-c', script]).toString();
    const records = out.split('\n').slice(0, -1).map(parseCriRecord);
    expect(records.map((r) => [r?.stream, r?.partial, r?.text])).toEqual([
      ['stderr', false, 'hello world'],
      ['stderr', false, '  indented %s \\n'],
      ['stderr', false, ''],
      ['stderr', false, 'no newline at end'],
    ]);
    for (const r of records) {
      expect(r!.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/);
      expect(Math.abs(Date.parse(r!.time) - before)).toBeLessThan(5000);
    }
  });

  it.skipIf(noBusybox)('splits lines longer than 4000 bytes into partial records that join back', () => {
    const long = 'x'.repeat(4000) + 'y'.repeat(4000) + 'z'.repeat(1234);
    const script = `${shellFunction('civil_date')}\n${shellFunction('cri')}\ncri stdout`;
    const out = execFileSync('busybox', ['sh', '-c', script], { input: `${long}\nshort\n` }).toString();
    const records = out.split('\n').slice(0, -1).map((l) => parseCriRecord(l)!);
    expect(records.map((r) => [r.partial, r.text.length])).toEqual([[true, 4000], [true, 4000], [false, 1234], [false, 5]]);
    const assembler = new CriLineAssembler();
    expect(records.flatMap((r) => assembler.push(r)).map((l) => l.text)).toEqual([long, 'short']);
    for (const line of out.split('\n')) expect(line.length).toBeLessThan(4096); // one printf write each
  });

  it.skipIf(noBusybox)('computes calendar dates without a process per line (civil_date)', () => {
    const days = [0, 59, 365, 10956, 11016, 19782, 47482];
    const out = execFileSync('busybox', ['sh', '-c', `${shellFunction('civil_date')}\nfor d in ${days.join(' ')}; do civil_date $d; echo; done`]).toString();
    expect(out.trim().split('\n')).toEqual(days.map((d) => new Date(d * 86_400_000).toISOString().slice(0, 10)));
  });

  it.skipIf(noBusybox)('resolves paths inside the image as the chrooted workload would (inroot)', () => {
    const root = mkdtempSync(join(tmpdir(), 'berth-inroot-'));
    try {
      mkdirSync(join(root, 'b/c'), { recursive: true });
      mkdirSync(join(root, 'opt/app'), { recursive: true });
      symlinkSync('/b', join(root, 'a')); // absolute: into the image, not the initramfs
      symlinkSync('b/c', join(root, 'rel'));
      symlinkSync('../../../b', join(root, 'b/c/up')); // ".." stops at the image's root
      symlinkSync('/opt/app', join(root, 'app'));
      symlinkSync('loop2', join(root, 'loop1'));
      symlinkSync('loop1', join(root, 'loop2'));
      const cases: Record<string, string> = { '/': '', '/a/c': '/b/c', '/rel/up/c': '/b/c', '/app/new/dir': '/opt/app/new/dir', '/b/../a/./c': '/b/c', '//b//c/': '/b/c', '/loop1': 'FAIL' };
      const script = `${shellFunction('inroot')}\nfor p in ${Object.keys(cases).map((p) => `'${p}'`).join(' ')}; do inroot '${root}' "$p" || echo FAIL; done`;
      const out = execFileSync('busybox', ['sh', '-c', script]).toString().trim().split('\n');
      expect(out).toEqual(Object.values(cases).map((v) => (v === 'FAIL' ? v : `${root}${v}`)));
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});

import { execFileSync } from 'node:child_process';
import { lstatSync, mkdtempSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { writeNewc, type CpioEntry } from './cpio';

const small: CpioEntry[] = [
  { kind: 'dir', path: 'etc' },
  { kind: 'file', path: 'etc/hello', data: Buffer.from('hello\n') },
  { kind: 'dir', path: 'bin', mode: 0o700 },
  { kind: 'file', path: '/bin/tool', data: Buffer.from('#!/bin/sh\necho ok\n'), mode: 0o755 },
  { kind: 'symlink', path: 'greeting', target: 'etc/hello' },
];

/** Every member of a newc archive, decoded with nothing but the format's definition. */
function members(archive: Buffer): { name: string; fields: number[]; data: Buffer }[] {
  const out: { name: string; fields: number[]; data: Buffer }[] = [];
  let at = 0;
  const align = (n: number) => (n + 3) & ~3;
  for (;;) {
    expect(archive.toString('ascii', at, at + 6)).toBe('070701');
    const fields = Array.from({ length: 13 }, (_, i) => parseInt(archive.toString('ascii', at + 6 + i * 8, at + 14 + i * 8), 16));
    const nameSize = fields[11]!;
    const name = archive.toString('utf8', at + 110, at + 110 + nameSize - 1);
    const dataAt = align(at + 110 + nameSize);
    const data = archive.subarray(dataAt, dataAt + fields[6]!);
    at = align(dataAt + fields[6]!);
    if (name === 'TRAILER!!!') return out;
    out.push({ name, fields, data });
  }
}

describe('newc cpio writer', () => {
  let dir = '';
  afterEach(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = '';
  });

  it('writes byte-exact headers: magic, 13 hex fields, NUL-terminated name, 4-byte padding', () => {
    const archive = writeNewc(small);
    // ino 1, mode 040755, uid 0, gid 0, nlink 2, mtime 0, size 0, dev 0:0, rdev 0:0, namesize 4 ("etc\0"), check 0
    const first = '070701' + '00000001' + '000041ed' + '00000000' + '00000000' + '00000002' + '00000000' + '00000000' + '00000000' + '00000000' + '00000000' + '00000000' + '00000004' + '00000000';
    expect(archive.subarray(0, 116)).toEqual(Buffer.concat([Buffer.from(first, 'ascii'), Buffer.from('etc\0\0\0', 'latin1')]));
    const second = archive.subarray(116, 116 + 110).toString('ascii');
    expect(second).toBe('070701' + '00000002' + '000081a4' + '00000000'.repeat(2) + '00000001' + '00000000' + '00000006' + '00000000'.repeat(4) + '0000000a' + '00000000');
    // name "etc/hello\0" (10) ends at 236 → padded to 236; data "hello\n" (6) padded to 244
    expect(archive.toString('latin1', 226, 244)).toBe('etc/hello\0hello\n\0\0');
    expect(archive.length % 4).toBe(0);
    expect(archive.subarray(archive.length - 124).toString('latin1')).toMatch(/^070701(00000000){4}00000001(00000000){6}0000000b00000000TRAILER!!!\0{4}$/);
  });

  it('is read back by GNU cpio: listing, contents, modes and symlinks', () => {
    const archive = writeNewc(small);
    const listing = execFileSync('cpio', ['-t', '--quiet'], { input: archive }).toString().trim().split('\n');
    expect(listing).toEqual(['etc', 'etc/hello', 'bin', 'bin/tool', 'greeting']);

    dir = mkdtempSync(join(tmpdir(), 'berth-cpio-'));
    execFileSync('cpio', ['-i', '-d', '--quiet', '--no-absolute-filenames'], { input: archive, cwd: dir });
    expect(readFileSync(join(dir, 'etc/hello'), 'utf8')).toBe('hello\n');
    expect(readFileSync(join(dir, 'bin/tool'), 'utf8')).toBe('#!/bin/sh\necho ok\n');
    expect(lstatSync(join(dir, 'bin/tool')).mode & 0o777).toBe(0o755);
    expect(lstatSync(join(dir, 'bin')).mode & 0o777).toBe(0o700);
    expect(lstatSync(join(dir, 'greeting')).isSymbolicLink()).toBe(true);
    expect(readlinkSync(join(dir, 'greeting'))).toBe('etc/hello');
    expect(execFileSync('cat', [join(dir, 'bin/tool')]).toString()).toContain('echo ok');
  });

  it('encodes character devices with their major:minor in the rdev fields', () => {
    const [console] = members(writeNewc([{ kind: 'dir', path: 'dev' }, { kind: 'chardev', path: 'dev/console', major: 5, minor: 1 }])).slice(1);
    expect(console!.name).toBe('dev/console');
    expect(console!.fields[1]).toBe(0o020600);
    expect([console!.fields[9], console!.fields[10]]).toEqual([5, 1]);
    expect(console!.data.length).toBe(0);
  });

  it('gives the same bytes for the same entries and refuses duplicate or odd paths', () => {
    expect(writeNewc(small).equals(writeNewc(small))).toBe(true);
    expect(() => writeNewc([...small, { kind: 'dir', path: '/etc/' }])).toThrow(/appears twice/);
    expect(() => writeNewc([{ kind: 'dir', path: 'a/../b' }])).toThrow(/not a plain path/);
    expect(() => writeNewc([{ kind: 'dir', path: '/' }])).toThrow(/not a plain path/);
  });
});

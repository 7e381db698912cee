import { appendFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { collect } from '../conformance';
import { readPlainLog } from './log-reader';

describe('readPlainLog', () => {
  let dir = '';
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-plain-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reads lines (CR LF or LF) as stdout, stamped with the time they were read, and honours tail', async () => {
    const path = join(dir, 'console.log');
    await writeFile(path, '[    0.000000] Linux version 6.1.0\r\nberth-init: ü\n\nunterminated');
    const before = Date.now();
    const all = await collect(readPlainLog(path, {}, { finished: async () => true }));
    expect(all.map((l) => l.text)).toEqual(['[    0.000000] Linux version 6.1.0', 'berth-init: ü', '']);
    expect(all.every((l) => l.stream === 'stdout')).toBe(true);
    expect(all[0]!.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/);
    expect(Date.parse(all[0]!.time)).toBeGreaterThanOrEqual(before - 1);
    expect((await collect(readPlainLog(path, { tail: 1 }, { finished: async () => true }))).map((l) => l.text)).toEqual(['']);
    expect(await collect(readPlainLog(join(dir, 'missing'), {}, { finished: async () => true }))).toEqual([]);
  });

  it('follows appended text, and gives the unterminated last line once the writer is finished', async () => {
    const path = join(dir, 'console.log');
    await writeFile(path, 'booting\n');
    let polls = 0;
    const followed = readPlainLog(path, { tail: 0, follow: true }, {
      pollMs: 1,
      finished: async () => {
        polls += 1;
        if (polls === 2) await appendFile(path, 'reached init\npower');
        if (polls === 3) await appendFile(path, 'ing off');
        return polls >= 4;
      },
    });
    expect((await collect(followed)).map((l) => l.text)).toEqual(['reached init', 'powering off']);
  });

  it('stops following when the signal aborts', async () => {
    const path = join(dir, 'console.log');
    await writeFile(path, 'a\n');
    const ctl = new AbortController();
    setTimeout(() => ctl.abort(), 50);
    const lines = await collect(readPlainLog(path, { follow: true, signal: ctl.signal }, { pollMs: 10, finished: async () => false }));
    expect(lines.map((l) => l.text)).toEqual(['a']);
  });
});

import { appendFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { collect } from '../conformance';
import { readCriLog, readPlainLog } from './log-reader';

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

describe('readCriLog on files larger than what the reader holds', () => {
  let dir = '';
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-cri-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const T = '2026-12-05T08:00:00.000000000Z';
  const record = (text: string, tag = 'F') => `${T} stdout ${tag} ${text}\n`;

  it('reads every line of a file many chunks long, and the last N of it with tail', async () => {
    const path = join(dir, 'task.log');
    const count = 40_000; // ~2.5 MB: dozens of chunks
    await writeFile(path, Array.from({ length: count }, (_, i) => record(`line ${i}`)).join(''));
    const all = await collect(readCriLog(path, {}, { finished: async () => true }));
    expect(all).toHaveLength(count);
    expect(all.at(-1)!.text).toBe(`line ${count - 1}`);
    const last = await collect(readCriLog(path, { tail: 3 }, { finished: async () => true }));
    expect(last.map((l) => l.text)).toEqual([`line ${count - 3}`, `line ${count - 2}`, `line ${count - 1}`]);
    expect(await collect(readCriLog(path, { tail: count + 5 }, { finished: async () => true }))).toHaveLength(count);
  });

  it('keeps partial records together across chunks, and reads a line longer than a chunk whole', async () => {
    const path = join(dir, 'task.log');
    const long = 'x'.repeat(200_000);
    const filler = Array.from({ length: 3_000 }, (_, i) => record(`filler ${i}`)).join('');
    await writeFile(path, filler + record('first half ', 'P') + record('second half') + record(long) + record('after'));
    const last = await collect(readCriLog(path, { tail: 3 }, { finished: async () => true }));
    expect(last.map((l) => (l.text.length > 100 ? `${l.text.length} chars` : l.text))).toEqual(['first half second half', '200000 chars', 'after']);
  });

  it('reads only as far as its consumer pulls', async () => {
    const path = join(dir, 'task.log');
    await writeFile(path, Array.from({ length: 40_000 }, (_, i) => record(`line ${i}`)).join(''));
    const reader = readCriLog(path, {}, { finished: async () => true });
    const first = await reader.next();
    expect(first.value).toMatchObject({ text: 'line 0' });
    // The file changes under the reader: lines past its first chunk are read from the new content.
    await writeFile(path, 'x'.repeat(0));
    const rest = await collect({ [Symbol.asyncIterator]: () => reader });
    expect(rest.length).toBeLessThan(2_000); // one chunk's worth, not the 40 000 lines of the old file
  });
});

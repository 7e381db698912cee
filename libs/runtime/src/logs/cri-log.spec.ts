import { mkdtemp, rm, writeFile, appendFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CriLineAssembler, parseCriRecord, splitCriRecords } from './cri-log';
import { readCriLog } from './log-reader';

const T = '2026-11-25T05:54:32.728113314+00:00';

describe('CRI log parsing', () => {
  it('parses full and partial records, including empty lines', () => {
    expect(parseCriRecord(`${T} stdout F hello world`)).toEqual({ time: T, stream: 'stdout', partial: false, text: 'hello world' });
    expect(parseCriRecord(`${T} stderr P part`)).toEqual({ time: T, stream: 'stderr', partial: true, text: 'part' });
    expect(parseCriRecord(`${T} stdout F`)).toEqual({ time: T, stream: 'stdout', partial: false, text: '' });
    expect(parseCriRecord(`${T} stdout F  two  spaces `)?.text).toBe(' two  spaces ');
    expect(parseCriRecord('garbage')).toBeUndefined();
  });

  it('joins partial records per stream into whole lines', () => {
    const a = new CriLineAssembler();
    const lines = [`${T} stdout P abc`, `${T} stderr F err`, `${T} stdout P def`, `${T} stdout F ghi`]
      .map((l) => parseCriRecord(l)!)
      .flatMap((r) => a.push(r));
    expect(lines).toEqual([
      { time: T, stream: 'stderr', text: 'err' },
      { time: T, stream: 'stdout', text: 'abcdefghi' },
    ]);
  });

  it('leaves an unterminated last record for later', () => {
    const chunk = Buffer.from(`${T} stdout F one\n${T} stdout F tw`);
    const { records, consumed } = splitCriRecords(chunk);
    expect(records.map((r) => r.text)).toEqual(['one']);
    expect(consumed).toBe(Buffer.byteLength(`${T} stdout F one\n`));
  });
});

describe('readCriLog', () => {
  it('reads a tail, then follows appended lines until the writer is finished', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'berth-cri-'));
    try {
      const path = join(dir, 'log');
      await writeFile(path, `${T} stdout F a\n${T} stdout F b\n${T} stdout F ü\n`);
      const texts = async (it: AsyncIterable<{ text: string }>) => {
        const out: string[] = [];
        for await (const l of it) out.push(l.text);
        return out;
      };
      expect(await texts(readCriLog(path, { tail: 2 }, { finished: async () => true }))).toEqual(['b', 'ü']);
      expect(await texts(readCriLog(join(dir, 'missing'), {}, { finished: async () => true }))).toEqual([]);
      let polls = 0;
      const followed = readCriLog(path, { tail: 0, follow: true }, {
        pollMs: 1,
        finished: async () => {
          polls += 1;
          if (polls === 2) await appendFile(path, `${T} stdout P d\n${T} stdout F e\n`);
          return polls >= 3;
        },
      });
      expect(await texts(followed)).toEqual(['de']);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

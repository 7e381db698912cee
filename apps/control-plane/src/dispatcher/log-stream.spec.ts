import { describe, expect, it } from 'vitest';
import { logLineCost, type LogLine } from '@berth/proto';
import { LOG_WINDOW, LogStream } from './log-stream';

const line = (text: string): LogLine => ({ timeMs: 0, stream: 'stdout', text });

describe('LogStream (a relayed log request)', () => {
  it('grants the agent credit for what the reader took, a quarter window at a time, never for what it did not take', async () => {
    const grants: number[] = [];
    const stream = new LogStream((bytes) => grants.push(bytes));
    const text = 'x'.repeat(1000);
    const lines = Array.from({ length: 200 }, () => line(text));
    stream.push(lines);
    const it = stream[Symbol.asyncIterator]();
    let taken = 0;
    while (taken * logLineCost(line(text)) < LOG_WINDOW / 4) {
      await it.next();
      taken++;
    }
    await it.next(); // the grant follows the line that crossed the quarter… once the reader comes back
    expect(grants).toEqual([taken * logLineCost(line(text))]);
    expect(stream.buffered).toBe(200 - taken - 1);
  });

  it('ends with the error the agent or the session gave, after the lines before it', async () => {
    const stream = new LogStream();
    stream.push([line('a')]);
    stream.end('node n1 disconnected');
    const seen: string[] = [];
    await expect(
      (async () => {
        for await (const l of stream) seen.push(l.text);
      })(),
    ).rejects.toThrow('node n1 disconnected');
    expect(seen).toEqual(['a']);
  });
});

import { describe, expect, it } from 'vitest';
import { formatLogLine, isTaskId, parseLogLine } from './log-lines';

const LINE = '2026-03-01T12:00:01.123456789Z stdout listening on :8080 (pid 7)';

describe('log lines', () => {
  it('splits a server line into time, stream and text (text keeps its spaces)', () => {
    expect(parseLogLine(LINE)).toEqual({ time: '2026-03-01T12:00:01.123456789Z', stream: 'stdout', text: 'listening on :8080 (pid 7)' });
    expect(parseLogLine('2026-03-01T12:00:01Z stderr ')).toEqual({ time: '2026-03-01T12:00:01Z', stream: 'stderr', text: '' });
  });

  it('keeps a line of another shape whole', () => {
    expect(parseLogLine('just text')).toEqual({ text: 'just text' });
  });

  it('prints the text only, the time with --timestamps, and the task in front for a service', () => {
    expect(formatLogLine(LINE, { timestamps: false })).toBe('listening on :8080 (pid 7)');
    expect(formatLogLine(LINE, { timestamps: true })).toBe('2026-03-01T12:00:01.123456789Z listening on :8080 (pid 7)');
    expect(formatLogLine(LINE, { timestamps: false, task: 'web.1.x7k2p' })).toBe('[web.1.x7k2p] listening on :8080 (pid 7)');
    expect(formatLogLine(LINE, { timestamps: true, task: 'web.1.x7k2p' })).toBe('[web.1.x7k2p] 2026-03-01T12:00:01.123456789Z listening on :8080 (pid 7)');
  });

  it('tells task ids from service names by the dot', () => {
    expect(isTaskId('web.1.x7k2p')).toBe(true);
    expect(isTaskId('web')).toBe(false);
  });
});

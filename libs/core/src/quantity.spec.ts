import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatCpu, formatDuration, formatMemory, parseCpu, parseDuration, parseMemory } from './quantity';

describe('parseCpu', () => {
  it.each([
    [1, 1000],
    ['1', 1000],
    [0.5, 500],
    ['500m', 500],
    ['2.25', 2250],
  ])('%j → %d millicores', (input, want) => {
    expect(parseCpu(input)).toEqual({ ok: true, value: want });
  });

  it.each([['-1'], [-1], ['0'], ['0m'], ['1.0001'], ['500M'], ['abc'], [''], [true], [null]])('refuses %j', (input) => {
    expect(parseCpu(input).ok).toBe(false);
  });
});

describe('parseMemory', () => {
  it.each([
    ['64Mi', 64 * 1024 ** 2],
    ['1Gi', 1024 ** 3],
    [1048576, 1048576],
    ['500M', 500_000_000],
    ['1.5Gi', 1.5 * 1024 ** 3],
  ])('%j → %d bytes', (input, want) => {
    expect(parseMemory(input)).toEqual({ ok: true, value: want });
  });

  it.each([['64MB'], ['-1'], [-1], [0], ['0Mi'], ['1.5'], ['Mi'], ['64 Mi'], [{}]])('refuses %j', (input) => {
    const r = parseMemory(input);
    expect(r.ok).toBe(false);
  });

  it('names the accepted suffixes when a suffix is wrong', () => {
    const r = parseMemory('64MB');
    expect(r.ok === false && r.reason).toContain('Mi');
  });

  it('round-trips through formatMemory', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 2 ** 40 }), (bytes) => {
        expect(parseMemory(formatMemory(bytes))).toEqual({ ok: true, value: bytes });
      }),
    );
  });
});

describe('parseDuration', () => {
  it.each([
    ['500ms', 500],
    ['5s', 5000],
    ['1m', 60_000],
    ['1m30s', 90_000],
    ['1.5s', 1500],
    [0, 0],
  ])('%j → %d ms', (input, want) => {
    expect(parseDuration(input)).toEqual({ ok: true, value: want });
  });

  it.each([['5'], [5], ['s'], ['5 s'], ['-1s'], [''], ['1.0005s']])('refuses %j', (input) => {
    expect(parseDuration(input).ok).toBe(false);
  });

  it('round-trips through formatDuration', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 10 * 3_600_000 }), (ms) => {
        expect(parseDuration(formatDuration(ms))).toEqual({ ok: true, value: ms });
      }),
    );
  });

  it('round-trips cpu through formatCpu', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 256_000 }), (m) => {
        expect(parseCpu(formatCpu(m))).toEqual({ ok: true, value: m });
      }),
    );
  });
});

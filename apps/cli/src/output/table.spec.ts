import { describe, expect, it } from 'vitest';
import { formatAge, humanDuration } from './age';
import { renderFields } from './fields';
import { renderTable } from './table';

describe('renderTable', () => {
  it('prints uppercase headers and aligned columns without borders, colours or trailing spaces', () => {
    const text = renderTable(['name', 'mode'], [
      ['web', 'replicated'],
      ['a-long-name', 'global'],
    ]);
    expect(text.split('\n')).toEqual(['NAME          MODE', 'web           replicated', 'a-long-name   global']);
    expect(text).not.toMatch(/\x1b\[/);
  });
});

describe('humanDuration', () => {
  const s = 1000;
  const m = 60 * s;
  const h = 60 * m;
  const d = 24 * h;
  it.each([
    [0, '0s'],
    [45 * s, '45s'],
    [119 * s, '119s'],
    [3 * m + 20 * s, '3m20s'],
    [5 * m, '5m'],
    [42 * m, '42m'],
    [4 * h + 5 * m, '4h5m'],
    [20 * h, '20h'],
    [3 * d + 4 * h, '3d4h'],
    [40 * d, '40d'],
    [800 * d, '2y'],
  ])('%d ms → %s', (ms, want) => {
    expect(humanDuration(ms)).toBe(want);
  });
});

describe('formatAge', () => {
  const now = new Date('2026-01-01T12:00:00Z');
  it('measures from the timestamp to now', () => {
    expect(formatAge('2026-01-01T11:59:30Z', now)).toBe('30s');
  });
  it('prints - for a missing or unreadable timestamp, 0s for clock skew', () => {
    expect(formatAge(undefined, now)).toBe('-');
    expect(formatAge('yesterday', now)).toBe('-');
    expect(formatAge('2026-01-01T12:00:05Z', now)).toBe('0s');
  });
});

describe('renderFields', () => {
  it('aligns values per level (section labels do not widen it), nests sections, and prints <none> for empty values', () => {
    const lines = renderFields([
      ['Name', 'web'],
      ['Labels', ['app=web', 'tier=frontend']],
      ['Env', []],
      ['Template', [['Image', 'busybox:1'], ['Command', 'httpd -f']]],
    ]);
    expect(lines).toEqual([
      'Name:    web',
      'Labels:  app=web',
      '         tier=frontend',
      'Env:     <none>',
      'Template:',
      '  Image:    busybox:1',
      '  Command:  httpd -f',
    ]);
  });
});

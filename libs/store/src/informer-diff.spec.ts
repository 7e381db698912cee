import { describe, expect, it } from 'vitest';
import { compareRevisions, diffSnapshots, type Entry } from './informer-diff';

const snap = (entries: Record<string, [string, string]>) =>
  new Map<string, Entry<string>>(Object.entries(entries).map(([k, [value, modRevision]]) => [k, { value, modRevision }]));

describe('diffSnapshots', () => {
  it('emits puts for new and changed keys in revision order, then deletes at the list revision', () => {
    const before = snap({ a: ['a1', '5'], b: ['b1', '6'], c: ['c1', '7'] });
    const after = snap({ a: ['a2', '12'], c: ['c1', '7'], d: ['d1', '10'] });
    expect(diffSnapshots(before, after, '15')).toEqual([
      { type: 'put', key: 'd', value: 'd1', revision: '10' },
      { type: 'put', key: 'a', value: 'a2', revision: '12' },
      { type: 'delete', key: 'b', revision: '15' },
    ]);
  });

  it('emits every key on a first list and nothing when nothing changed', () => {
    const s = snap({ a: ['a', '3'], b: ['b', '2'] });
    expect(diffSnapshots(new Map(), s, '3').map((e) => e.key)).toEqual(['b', 'a']);
    expect(diffSnapshots(s, s, '9')).toEqual([]);
  });

  it('orders revisions numerically, not as text', () => {
    expect(compareRevisions('9', '10')).toBeLessThan(0);
    expect(compareRevisions('100', '100')).toBe(0);
  });
});

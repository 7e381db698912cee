import { describe, expect, it } from 'vitest';
import { ValidationError, type ClusterEvent } from '@berth/core';
import { matchesEventQuery, parseSince, readEventQuery } from './index';

const NOW = new Date('2026-03-01T12:00:00Z');

function issuesOf(f: () => unknown): { path: string; message: string }[] {
  try {
    f();
  } catch (e) {
    if (e instanceof ValidationError) return e.issues.map(({ path, message }) => ({ path, message }));
    throw e;
  }
  throw new Error('did not throw');
}

describe('readEventQuery', () => {
  it('asks for everything, unfollowed, when nothing is given', () => {
    expect(readEventQuery({}, NOW)).toEqual({ filter: {}, watch: false });
  });

  it('reads the filters, the resume point and watch', () => {
    expect(readEventQuery({ service: 'web', node: 'n1', after: '1234.2', watch: '1' }, NOW)).toEqual({
      filter: { service: 'web', node: 'n1' },
      after: '1234.2',
      watch: true,
    });
    expect(readEventQuery({ service: '', watch: 'false' }, NOW)).toEqual({ filter: {}, watch: false });
    expect(readEventQuery({ watch: '' }, NOW).watch).toBe(true);
  });

  it('takes since as a duration back from now or as an RFC 3339 time', () => {
    expect(readEventQuery({ since: '10m' }, NOW).filter.since).toBe('2026-03-01T11:50:00.000Z');
    expect(readEventQuery({ since: '1h30m' }, NOW).filter.since).toBe('2026-03-01T10:30:00.000Z');
    expect(readEventQuery({ since: '2026-03-01T13:00:00+02:00' }, NOW).filter.since).toBe('2026-03-01T11:00:00.000Z');
    expect(parseSince('2026-03-01T11:00:00.5Z', NOW)).toEqual({ ok: true, value: '2026-03-01T11:00:00.500Z' });
  });

  it('names every bad parameter and the forms it accepts', () => {
    const issues = issuesOf(() => readEventQuery({ since: 'yesterday', after: 'abc', watch: 'yes', service: ['a', 'b'] }, NOW));
    expect(issues).toEqual([
      { path: 'service', message: 'must be given once' },
      { path: 'since', message: 'must be a duration like "30s", "10m" or "1h30m", or an RFC 3339 time like "2026-03-01T12:00:00Z" (got "yesterday")' },
      { path: 'after', message: 'must be an event id REVISION.INDEX, as in an event\'s "id" (e.g. "1234.0") (got "abc")' },
      { path: 'watch', message: 'must be 1 or 0 (got "yes")' },
    ]);
    expect(issuesOf(() => readEventQuery({ since: '2026-13-45T00:00:00Z' }, NOW))[0]!.path).toBe('since');
  });
});

describe('matchesEventQuery', () => {
  const event = (id: string, over: Partial<ClusterEvent> = {}): ClusterEvent =>
    ({ id, time: '2026-03-01T11:59:00.000Z', kind: 'service', object: 'web', service: 'web', reason: 'Updated', message: 'm', ...over }) as ClusterEvent;

  it('keeps the events after the resume point that pass the filter', () => {
    const q = { filter: { service: 'web' }, after: '9.1' };
    expect(matchesEventQuery(event('9.1'), q)).toBe(false);
    expect(matchesEventQuery(event('9.2'), q)).toBe(true);
    expect(matchesEventQuery(event('10.0'), q)).toBe(true);
    expect(matchesEventQuery(event('10.0', { service: 'api', object: 'api' }), q)).toBe(false);
    expect(matchesEventQuery(event('10.0'), { filter: { since: '2026-03-01T11:59:30.000Z' } })).toBe(false);
  });
});

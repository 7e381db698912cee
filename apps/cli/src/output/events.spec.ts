import { describe, expect, it } from 'vitest';
import type { ClusterEvent } from '@berth/core';
import { eventHeader, eventLine, eventSection, eventTime } from './events';

/** Local times, so the expected clock reads the same in every time zone. */
const NOW = new Date(2026, 2, 1, 12, 0, 30);
const at = (h: number, m: number, s: number, day = 1) => new Date(2026, 2, day, h, m, s).toISOString();

const updated: ClusterEvent = {
  id: '812.0',
  time: at(12, 0, 1),
  kind: 'service',
  object: 'web',
  service: 'web',
  reason: 'Updated',
  message: 'applied generation 3: revision 2 (image 127.0.0.1:5000/busybox:1 → sha256:9f2…)',
};
const failed: ClusterEvent = {
  id: '815.1',
  time: at(12, 0, 2),
  kind: 'task',
  object: 'web.2.k3x7p',
  service: 'web',
  node: 'n1',
  reason: 'Failed',
  message: 'failed: exited with code 3',
};

describe('eventLine', () => {
  it('prints time, kind/object, reason and message in columns that line up', () => {
    const lines = [eventHeader(), eventLine(updated, NOW), eventLine(failed, NOW)];
    expect(lines).toEqual([
      'TIME       OBJECT                 REASON        MESSAGE',
      '12:00:01   service/web            Updated       applied generation 3: revision 2 (image 127.0.0.1:5000/busybox:1 → sha256:9f2…)',
      '12:00:02   task/web.2.k3x7p       Failed        failed: exited with code 3',
    ]);
  });

  it('adds the node and the event id with wide', () => {
    expect(eventHeader(true).split(/\s+/)).toEqual(['TIME', 'OBJECT', 'REASON', 'NODE', 'ID', 'MESSAGE']);
    expect(eventLine(failed, NOW, true).split(/\s{3,}/)).toEqual(['12:00:02', 'task/web.2.k3x7p', 'Failed', 'n1', '815.1', 'failed: exited with code 3']);
    expect(eventLine(updated, NOW, true).split(/\s{3,}/)[3]).toBe('-');
  });

  it('keeps an event on one line', () => {
    expect(eventLine({ ...failed, message: 'first\n  second' }, NOW)).toMatch(/Failed\s+first second$/);
  });
});

describe('eventTime', () => {
  it('shows the local clock, with the date when it was not today', () => {
    expect(eventTime(at(9, 5, 7), NOW)).toBe('09:05:07');
    expect(eventTime(at(23, 59, 59, 0), NOW)).toBe('2026-02-28 23:59:59');
  });
});

describe('eventSection', () => {
  it('lists the last ten events with their age, oldest first', () => {
    const many = Array.from({ length: 12 }, (_, i): ClusterEvent => ({ ...updated, id: `${800 + i}.0`, time: at(11, 48 + i, 30), message: `applied generation ${i + 1}` }));
    const lines = eventSection(many, NOW);
    expect(lines[0]).toBe('Events:');
    expect(lines[1]!.trim().split(/\s{2,}/)).toEqual(['AGE', 'REASON', 'OBJECT', 'MESSAGE']);
    const ages = ['10m', '9m', '8m', '7m', '6m', '5m', '4m', '3m', '2m', '60s'];
    expect(lines.slice(2).map((l) => l.trim().split(/\s{2,}/))).toEqual(ages.map((age, i) => [age, 'Updated', 'service/web', `applied generation ${i + 3}`]));
    expect(lines.every((l, i) => i === 0 || l.startsWith('  '))).toBe(true);
  });

  it('says <none> without events, and why when they could not be read', () => {
    expect(eventSection([], NOW)).toEqual(['Events:  <none>']);
    expect(eventSection('not found', NOW)).toEqual(['Events:  <unavailable: not found>']);
  });
});

import type { ClusterEvent } from '@berth/core';
import { formatAge } from './age';
import { renderFields } from './fields';
import { cell, renderTable } from './table';

/** How many events `berth describe` shows: the most recent ones. */
export const DESCRIBE_EVENT_COUNT = 10;

interface Column {
  readonly header: string;
  /** The width a cell is padded to; a longer value pushes the rest of its line right. */
  readonly width: number;
  value(e: ClusterEvent, now: Date): string;
}

const GAP = '   ';

const TIME: Column = { header: 'TIME', width: 8, value: (e, now) => eventTime(e.time, now) };
const OBJECT: Column = { header: 'OBJECT', width: 20, value: (e) => `${e.kind}/${e.object}` };
const REASON: Column = { header: 'REASON', width: 11, value: (e) => e.reason };
const NODE: Column = { header: 'NODE', width: 8, value: (e) => cell(e.node) };
const ID: Column = { header: 'ID', width: 10, value: (e) => e.id };

/** `berth events`: TIME OBJECT REASON MESSAGE; `-o wide` adds the node and the event id (for --after). */
function columns(wide: boolean): readonly Column[] {
  return wide ? [TIME, OBJECT, REASON, NODE, ID] : [TIME, OBJECT, REASON];
}

/**
 * One line per event, columns at fixed widths so a followed log (`-w`) lines up as it comes:
 * `12:00:01   service/web          Updated     applied generation 3 …`.
 */
export function eventLine(e: ClusterEvent, now: Date, wide = false): string {
  return [...columns(wide).map((c) => c.value(e, now).padEnd(c.width)), oneLine(e.message)].join(GAP).trimEnd();
}

/** The header printed once above the first event. */
export function eventHeader(wide = false): string {
  return [...columns(wide).map((c) => c.header.padEnd(c.width)), 'MESSAGE'].join(GAP);
}

/** Local wall-clock time, `HH:MM:SS`; with the date (`YYYY-MM-DD HH:MM:SS`) when not today. */
export function eventTime(time: string, now: Date): string {
  const at = new Date(time);
  if (Number.isNaN(at.getTime())) return time;
  const two = (n: number) => String(n).padStart(2, '0');
  const clock = `${two(at.getHours())}:${two(at.getMinutes())}:${two(at.getSeconds())}`;
  const sameDay = at.getFullYear() === now.getFullYear() && at.getMonth() === now.getMonth() && at.getDate() === now.getDate();
  return sameDay ? clock : `${at.getFullYear()}-${two(at.getMonth() + 1)}-${two(at.getDate())} ${clock}`;
}

/**
 * The `Events:` section that ends `berth describe service|node`: the last DESCRIBE_EVENT_COUNT
 * events, oldest first, kubectl style (`AGE REASON OBJECT MESSAGE`), or `Events: <none>`. A string
 * is why they could not be read (the rest of the description stands).
 */
export function eventSection(events: readonly ClusterEvent[] | string, now: Date): string[] {
  if (typeof events === 'string') return renderFields([['Events', `<unavailable: ${events}>`]]);
  if (events.length === 0) return renderFields([['Events', '']]);
  const rows = events.slice(-DESCRIBE_EVENT_COUNT).map((e) => [formatAge(e.time, now), e.reason, `${e.kind}/${e.object}`, oneLine(e.message)]);
  return ['Events:', ...renderTable(['age', 'reason', 'object', 'message'], rows).split('\n').map((line) => `  ${line}`)];
}

/** A message is one line by contract; a stray newline must not break the columns. */
function oneLine(text: string): string {
  return text.replace(/\s*[\r\n]+\s*/g, ' ');
}

import type { WatchEvent } from './store';

/** A cached object with the mod_revision it was read at. */
export interface Entry<T> {
  readonly value: T;
  readonly modRevision: string;
}

/**
 * The events that turn a cache holding `before` into one holding `after` (a fresh list taken at
 * `listRevision`): puts for new or changed keys in mod_revision order, then deletes (stamped with
 * the list revision, since the real deletion revision is no longer known after a compaction).
 */
export function diffSnapshots<T>(
  before: ReadonlyMap<string, Entry<T>>,
  after: ReadonlyMap<string, Entry<T>>,
  listRevision: string,
): WatchEvent<T>[] {
  const puts: { key: string; entry: Entry<T> }[] = [];
  for (const [key, entry] of after) {
    if (before.get(key)?.modRevision !== entry.modRevision) puts.push({ key, entry });
  }
  puts.sort((a, b) => compareRevisions(a.entry.modRevision, b.entry.modRevision) || (a.key < b.key ? -1 : 1));
  const events: WatchEvent<T>[] = puts.map(({ key, entry }) => ({
    type: 'put',
    key,
    value: entry.value,
    revision: entry.modRevision,
  }));
  const gone = [...before.keys()].filter((key) => !after.has(key)).sort();
  for (const key of gone) events.push({ type: 'delete', key, revision: listRevision });
  return events;
}

/** Orders decimal revision strings numerically (they are int64 in etcd). */
export function compareRevisions(a: string, b: string): number {
  const x = BigInt(a);
  const y = BigInt(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

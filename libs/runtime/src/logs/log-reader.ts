import { open, stat } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import type { LogLine, LogOptions } from '../driver';
import { CriLineAssembler, splitCriRecords } from './cri-log';

export interface FollowControl {
  /** True once no more output can come (the task is no longer running). */
  readonly finished: () => Promise<boolean>;
  readonly pollMs?: number;
}

/**
 * Reads a CRI log file: the last `tail` lines (all when undefined), then — with `follow` — new
 * lines as they are written, until `finished()` says the writer is done or `signal` aborts.
 * A missing file reads as empty. When the shim rotates the file (new inode or shorter file),
 * reading restarts at the beginning of the new file.
 */
export async function* readCriLog(path: string, opts: LogOptions, control: FollowControl): AsyncGenerator<LogLine> {
  const assembler = new CriLineAssembler();
  let cursor = await readFrom(path, { offset: 0, ino: undefined });
  const first = cursor.records.flatMap((r) => assembler.push(r));
  yield* opts.tail === undefined ? first : first.slice(Math.max(0, first.length - opts.tail));
  if (!opts.follow) return;
  const pollMs = control.pollMs ?? 200;
  for (;;) {
    if (opts.signal?.aborted) return;
    // Decide "finished" before reading, so output written just before the exit is still read.
    const done = await control.finished();
    cursor = await readFrom(path, cursor);
    for (const r of cursor.records) yield* assembler.push(r);
    if (done) return;
    if (cursor.records.length === 0) {
      try {
        await sleep(pollMs, undefined, { signal: opts.signal });
      } catch {
        return;
      }
    }
  }
}

interface Cursor {
  readonly offset: number;
  readonly ino: number | undefined;
}

async function readFrom(path: string, at: Cursor): Promise<Cursor & { records: ReturnType<typeof splitCriRecords>['records'] }> {
  let info;
  try {
    info = await stat(path);
  } catch {
    return { offset: 0, ino: undefined, records: [] };
  }
  const rotated = at.ino !== undefined && (info.ino !== at.ino || info.size < at.offset);
  const offset = rotated ? 0 : at.offset;
  if (info.size <= offset) return { offset, ino: info.ino, records: [] };
  const file = await open(path, 'r');
  try {
    const buf = Buffer.alloc(info.size - offset);
    const { bytesRead } = await file.read(buf, 0, buf.length, offset);
    const { records, consumed } = splitCriRecords(buf.subarray(0, bytesRead));
    return { offset: offset + consumed, ino: info.ino, records };
  } finally {
    await file.close();
  }
}

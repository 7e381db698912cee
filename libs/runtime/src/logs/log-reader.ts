import { open, stat } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import type { LogLine, LogOptions } from '../driver';
import { CriLineAssembler, splitCriRecords } from './cri-log';

export interface FollowControl {
  /** True once no more output can come (the task is no longer running). */
  readonly finished: () => Promise<boolean>;
  readonly pollMs?: number;
}

/** How the bytes of one log file become lines; one instance per reader (it may hold partial lines). */
export interface LogFormat {
  /** The lines completed by `chunk`, and how many of its bytes were taken (the rest is read again later). */
  lines(chunk: Buffer): { lines: LogLine[]; consumed: number };
  /** What is left once the writer is done (an unterminated last line); [] when nothing. */
  rest?(): LogLine[];
}

/**
 * Reads a CRI log file: the last `tail` lines (all when undefined), then — with `follow` — new
 * lines as they are written, until `finished()` says the writer is done or `signal` aborts.
 * A missing file reads as empty. When the shim rotates the file (new inode or shorter file),
 * reading restarts at the beginning of the new file.
 */
export function readCriLog(path: string, opts: LogOptions, control: FollowControl): AsyncGenerator<LogLine> {
  const assembler = new CriLineAssembler();
  return readLogFile(path, opts, control, {
    lines(chunk) {
      const { records, consumed } = splitCriRecords(chunk);
      return { lines: records.flatMap((r) => assembler.push(r)), consumed };
    },
  });
}

/**
 * Reads a plain text file (a serial console) as log lines of `stream`, with readCriLog's tail,
 * follow and rotation rules. The file carries no times: each line is stamped with the time it was
 * read (RFC 3339, nanosecond digits). A trailing "\r" is dropped; an unterminated last line comes
 * out only once `finished()` says the writer is done.
 */
export function readPlainLog(path: string, opts: LogOptions, control: FollowControl, stream: LogLine['stream'] = 'stdout'): AsyncGenerator<LogLine> {
  let pending: Buffer = Buffer.alloc(0);
  const line = (bytes: Buffer, time: string): LogLine => ({ time, stream, text: bytes.toString('utf8').replace(/\r$/, '') });
  return readLogFile(path, opts, control, {
    lines(chunk) {
      const end = chunk.lastIndexOf(0x0a) + 1;
      const time = nowNano();
      const lines: LogLine[] = [];
      for (let at = 0; at < end; ) {
        const nl = chunk.indexOf(0x0a, at);
        lines.push(line(chunk.subarray(at, nl), time));
        at = nl + 1;
      }
      pending = chunk.subarray(end);
      return { lines, consumed: end };
    },
    rest: () => (pending.length > 0 ? [line(pending, nowNano())] : []),
  });
}

/** Now as RFC 3339 with nine fraction digits, as CRI times are written. */
function nowNano(): string {
  return new Date().toISOString().replace(/Z$/, '000000Z');
}

/** The reader behind readCriLog and readPlainLog: tail, then follow, in the file's own `format`. */
export async function* readLogFile(path: string, opts: LogOptions, control: FollowControl, format: LogFormat): AsyncGenerator<LogLine> {
  let cursor = await readFrom(path, { offset: 0, ino: undefined }, format);
  const first = cursor.lines;
  yield* opts.tail === undefined ? first : first.slice(Math.max(0, first.length - opts.tail));
  if (!opts.follow) return;
  const pollMs = control.pollMs ?? 200;
  for (;;) {
    if (opts.signal?.aborted) return;
    // Decide "finished" before reading, so output written just before the exit is still read.
    const done = await control.finished();
    cursor = await readFrom(path, cursor, format);
    yield* cursor.lines;
    if (done) {
      yield* format.rest?.() ?? [];
      return;
    }
    if (cursor.read === 0) {
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

/** The lines after `at`; `read`: how many bytes that took (0: nothing new). */
async function readFrom(path: string, at: Cursor, format: LogFormat): Promise<Cursor & { lines: LogLine[]; read: number }> {
  let info;
  try {
    info = await stat(path);
  } catch {
    return { offset: 0, ino: undefined, lines: [], read: 0 };
  }
  const rotated = at.ino !== undefined && (info.ino !== at.ino || info.size < at.offset);
  const offset = rotated ? 0 : at.offset;
  if (info.size <= offset) return { offset, ino: info.ino, lines: [], read: 0 };
  const file = await open(path, 'r');
  try {
    const buf = Buffer.alloc(info.size - offset);
    const { bytesRead } = await file.read(buf, 0, buf.length, offset);
    const { lines, consumed } = format.lines(buf.subarray(0, bytesRead));
    return { offset: offset + consumed, ino: info.ino, lines, read: consumed };
  } finally {
    await file.close();
  }
}

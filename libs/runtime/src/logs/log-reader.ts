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
  return readLogFile(path, opts, control, () => {
    const assembler = new CriLineAssembler();
    return {
      lines(chunk) {
        const { records, consumed } = splitCriRecords(chunk);
        return { lines: records.flatMap((r) => assembler.push(r)), consumed };
      },
    };
  });
}

/**
 * Reads a plain text file (a serial console) as log lines of `stream`, with readCriLog's tail,
 * follow and rotation rules. The file carries no times: each line is stamped with the time it was
 * read (RFC 3339, nanosecond digits). A trailing "\r" is dropped; an unterminated last line comes
 * out only once `finished()` says the writer is done.
 */
export function readPlainLog(path: string, opts: LogOptions, control: FollowControl, stream: LogLine['stream'] = 'stdout'): AsyncGenerator<LogLine> {
  const line = (bytes: Buffer, time: string): LogLine => ({ time, stream, text: bytes.toString('utf8').replace(/\r$/, '') });
  return readLogFile(path, opts, control, () => {
    let pending: Buffer = Buffer.alloc(0);
    return {
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
    };
  });
}

/** Now as RFC 3339 with nine fraction digits, as CRI times are written. */
function nowNano(): string {
  return new Date().toISOString().replace(/Z$/, '000000Z');
}

/** Bytes read from a log file at a time: a reader holds about this much, whatever the file's size. */
const CHUNK_BYTES = 64 * 1024;

/**
 * The reader behind readCriLog and readPlainLog: tail, then follow, in the file's own format
 * (`makeFormat` gives a fresh parser). The file is read a chunk at a time as the consumer pulls
 * lines, never whole: a consumer that stops pulling stops the reading, and `tail` holds only
 * the lines it will return.
 */
export async function* readLogFile(path: string, opts: LogOptions, control: FollowControl, makeFormat: () => LogFormat): AsyncGenerator<LogLine> {
  let format: LogFormat;
  let cursor: Cursor;
  if (opts.tail !== undefined) {
    const last = await tailOf(path, opts.tail, makeFormat);
    yield* last.lines;
    ({ cursor, format } = last);
  } else {
    format = makeFormat();
    cursor = { offset: 0, ino: undefined };
    for (;;) {
      const next = await readFrom(path, cursor, format);
      cursor = next;
      if (next.read === 0) break;
      yield* next.lines;
    }
  }
  if (!opts.follow) return;
  const pollMs = control.pollMs ?? 200;
  for (;;) {
    if (opts.signal?.aborted) return;
    // Decide "finished" before reading, so output written just before the exit is still read.
    const done = await control.finished();
    let read = 0;
    for (;;) {
      const next = await readFrom(path, cursor, format);
      cursor = next;
      if (next.read === 0) break;
      read += next.read;
      yield* next.lines;
    }
    if (done) {
      yield* format.rest?.() ?? [];
      return;
    }
    if (read === 0) {
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

/**
 * The last `n` lines of the file and where reading goes on after them. Looks back from the end a
 * growing stretch at a time (from a line start) until that stretch holds more than `n` lines or
 * is the whole file; only the last n + 1 lines are kept while a stretch is read.
 */
async function tailOf(path: string, n: number, makeFormat: () => LogFormat): Promise<{ lines: LogLine[]; cursor: Cursor; format: LogFormat }> {
  const info = await stat(path).catch(() => undefined);
  if (!info) return { lines: [], cursor: { offset: 0, ino: undefined }, format: makeFormat() };
  for (let back = CHUNK_BYTES; ; back *= 4) {
    const offset = back >= info.size ? 0 : await lineStartAfter(path, info.size - back);
    const format = makeFormat();
    let cursor: Cursor = { offset, ino: info.ino };
    const kept: LogLine[] = [];
    let count = 0;
    for (;;) {
      const next = await readFrom(path, cursor, format);
      cursor = next;
      if (next.read === 0) break;
      count += next.lines.length;
      kept.push(...next.lines);
      if (kept.length > n + 1) kept.splice(0, kept.length - (n + 1));
    }
    if (count > n || offset === 0) return { lines: n === 0 ? [] : kept.slice(-n), cursor, format };
  }
}

/** The offset just after the first newline at or after `from` (the file's size when there is none). */
async function lineStartAfter(path: string, from: number): Promise<number> {
  const file = await open(path, 'r');
  try {
    const buf = Buffer.alloc(CHUNK_BYTES);
    for (let at = from; ; at += CHUNK_BYTES) {
      const { bytesRead } = await file.read(buf, 0, buf.length, at);
      if (bytesRead === 0) return at;
      const nl = buf.subarray(0, bytesRead).indexOf(0x0a);
      if (nl >= 0) return at + nl + 1;
    }
  } finally {
    await file.close();
  }
}

/**
 * The lines of the next chunk after `at`; `read`: how many bytes they took (0: nothing new). A
 * line longer than a chunk is read with a chunk as large as it needs.
 */
async function readFrom(path: string, at: Cursor, format: LogFormat): Promise<Cursor & { lines: LogLine[]; read: number }> {
  let file;
  try {
    file = await open(path, 'r');
  } catch {
    return { offset: 0, ino: undefined, lines: [], read: 0 };
  }
  try {
    // The size and inode of the file opened, not of the path: the shim may rename a new file over
    // it in between, and an offset into the old file would start mid-line in the new one.
    const info = await file.stat();
    const rotated = at.ino !== undefined && (info.ino !== at.ino || info.size < at.offset);
    const offset = rotated ? 0 : at.offset;
    if (info.size <= offset) return { offset, ino: info.ino, lines: [], read: 0 };
    for (let size = CHUNK_BYTES; ; size *= 2) {
      const want = Math.min(size, info.size - offset);
      const buf = Buffer.alloc(want);
      const { bytesRead } = await file.read(buf, 0, want, offset);
      const { lines, consumed } = format.lines(buf.subarray(0, bytesRead));
      // Nothing complete in a full chunk while the file has more: one line is longer than the chunk.
      if (consumed === 0 && bytesRead === want && offset + want < info.size) continue;
      return { offset: offset + consumed, ino: info.ino, lines, read: consumed };
    }
  } finally {
    await file.close();
  }
}

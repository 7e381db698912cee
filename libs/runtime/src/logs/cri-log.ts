import type { LogLine, LogStream } from '../driver';

/** One record of a CRI log file: `<RFC3339Nano time> <stdout|stderr> <P|F> <text>`. */
export interface CriRecord {
  readonly time: string;
  readonly stream: LogStream;
  /** `P`: the line continues in the next record of the same stream; `F`: the line ends here. */
  readonly partial: boolean;
  readonly text: string;
}

const RECORD = /^(\S+) (stdout|stderr) ([PF])(?: (.*))?$/s;

/** Parses one record; undefined for anything that is not a CRI record (e.g. a torn last line). */
export function parseCriRecord(line: string): CriRecord | undefined {
  const m = RECORD.exec(line);
  if (!m) return undefined;
  return { time: m[1]!, stream: m[2] as LogStream, partial: m[3] === 'P', text: m[4] ?? '' };
}

/**
 * Joins partial records into whole lines, per stream (stdout and stderr interleave freely).
 * Feed records in file order; `push` returns the lines completed by that record.
 */
export class CriLineAssembler {
  private readonly pending = new Map<LogStream, { time: string; text: string }>();

  push(record: CriRecord): LogLine[] {
    const before = this.pending.get(record.stream);
    const text = (before?.text ?? '') + record.text;
    const time = before?.time ?? record.time;
    if (record.partial) {
      this.pending.set(record.stream, { time, text });
      return [];
    }
    this.pending.delete(record.stream);
    return [{ time, stream: record.stream, text }];
  }
}

/**
 * Splits a chunk of a log file into records. Only newline-terminated records count: an
 * unterminated tail is still being written, and `consumed` (bytes) tells where to resume.
 */
export function splitCriRecords(chunk: Buffer): { records: CriRecord[]; consumed: number } {
  const records: CriRecord[] = [];
  let at = 0;
  for (;;) {
    const nl = chunk.indexOf(0x0a, at);
    if (nl < 0) break;
    const record = parseCriRecord(chunk.subarray(at, nl).toString('utf8'));
    if (record) records.push(record);
    at = nl + 1;
  }
  return { records, consumed: at };
}

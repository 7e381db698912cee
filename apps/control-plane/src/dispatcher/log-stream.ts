import { UnavailableError } from '@berth/core';
import { logLineCost, type LogLine } from '@berth/proto';

/** Log text (LogRequest.credit) the agent may send ahead of the reader. */
export const LOG_WINDOW = 256 * 1024;

/**
 * One relayed log request: LogChunks pushed in by the node's session, pulled out by the HTTP
 * response as an async iterable. Ends when the agent sends the last chunk, with an error when
 * the agent reported one or the session went away. What the reader took is granted back to the
 * agent (`grant`), a quarter of the window at a time: the agent never has more than the window
 * in flight, so a reader that stops reading stops the agent reading the file.
 */
export class LogStream implements AsyncIterable<LogLine> {
  private readonly lines: LogLine[] = [];
  private ended = false;
  private error: Error | undefined;
  private wake: (() => void) | undefined;
  /** Taken by the reader since the last grant. */
  private taken = 0;

  constructor(private readonly grant: (bytes: number) => void = () => undefined) {}

  push(lines: readonly LogLine[]): void {
    this.lines.push(...lines);
    this.notify();
  }

  end(error?: string): void {
    if (this.ended) return;
    this.ended = true;
    if (error) this.error = new UnavailableError(error);
    this.notify();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<LogLine> {
    for (;;) {
      while (this.lines.length > 0) {
        const line = this.lines.shift()!;
        yield line;
        this.took(logLineCost(line));
      }
      if (this.ended) break;
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
    if (this.error) throw this.error;
  }

  /** Lines received and not yet taken by the reader. */
  get buffered(): number {
    return this.lines.length;
  }

  private took(bytes: number): void {
    this.taken += bytes;
    if (this.ended || this.taken < LOG_WINDOW / 4) return;
    this.grant(this.taken);
    this.taken = 0;
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }
}

/** `<RFC 3339 time> <stdout|stderr> <text>` — one line of the HTTP log stream (docs/api.md). */
export function formatLogLine(l: LogLine): string {
  return `${new Date(l.timeMs).toISOString()} ${l.stream} ${l.text}\n`;
}

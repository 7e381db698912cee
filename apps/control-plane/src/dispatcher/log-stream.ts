import { UnavailableError } from '@berth/core';
import type { LogLine } from '@berth/proto';

/**
 * One relayed log request: LogChunks pushed in by the node's session, pulled out by the HTTP
 * response as an async iterable. Ends when the agent sends the last chunk, with an error when
 * the agent reported one or the session went away.
 */
export class LogStream implements AsyncIterable<LogLine> {
  private readonly lines: LogLine[] = [];
  private ended = false;
  private error: Error | undefined;
  private wake: (() => void) | undefined;

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
      while (this.lines.length > 0) yield this.lines.shift()!;
      if (this.ended) break;
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
    if (this.error) throw this.error;
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

/** Clears the terminal line the cursor is on. */
const CLEAR_LINE = '\x1b[2K';

/**
 * Renders `--wait` progress, one line per service, as text for stderr. On a TTY the block is
 * redrawn in place (`\r`, cursor up, clear line); elsewhere (logs, CI) only a line that changed
 * is printed again, so a log shows each step once. Pure: it returns text and writes nothing.
 */
export class ProgressBoard {
  private shown: readonly string[] = [];

  constructor(private readonly tty: boolean) {}

  /** The text that brings stderr up to `lines`; empty when nothing changed. */
  update(lines: readonly string[]): string {
    const previous = this.shown;
    this.shown = [...lines];
    if (!this.tty) return lines.filter((line, i) => line !== previous[i]).map((line) => `${line}\n`).join('');
    if (previous.length === lines.length && lines.every((line, i) => line === previous[i])) return '';
    // The cursor rests at the end of the block's last line; go back to the start of its first.
    const up = previous.length > 1 ? `\x1b[${previous.length - 1}A` : '';
    const back = previous.length > 0 ? `\r${up}` : '';
    return back + lines.map((line) => CLEAR_LINE + line).join('\n');
  }

  /** Ends the block: on a TTY the cursor moves below it, so later output starts on a new line. */
  finish(): string {
    return this.tty && this.shown.length > 0 ? '\n' : '';
  }
}

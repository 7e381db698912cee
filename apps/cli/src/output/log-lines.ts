/** One log line as the server sends it: `<RFC 3339 time> <stdout|stderr> <text>`. */
export interface LogLine {
  readonly time?: string;
  readonly stream?: 'stdout' | 'stderr';
  readonly text: string;
}

const SERVER_LINE = /^(\d{4}-\d\d-\d\dT\S+) (stdout|stderr) (.*)$/s;

/** Splits a server line into its parts; a line not in that shape is kept whole as text. */
export function parseLogLine(raw: string): LogLine {
  const m = SERVER_LINE.exec(raw);
  if (!m) return { text: raw };
  return { time: m[1]!, stream: m[2] as 'stdout' | 'stderr', text: m[3]! };
}

export interface LogFormat {
  /** Keep the server's timestamp in front of the text. */
  readonly timestamps: boolean;
  /** Set when several tasks are streamed at once: each line starts with `[<task id>] `. */
  readonly task?: string;
}

/** The line as printed: the text only by default, `[task] ` and the time in front when asked for. */
export function formatLogLine(raw: string, format: LogFormat): string {
  const line = parseLogLine(raw);
  const time = format.timestamps && line.time ? `${line.time} ` : '';
  const prefix = format.task === undefined ? '' : `[${format.task}] `;
  return `${prefix}${time}${line.text}`;
}

/** A task id has the form `<service>.<slot>.<suffix>`; a service name never contains a dot. */
export function isTaskId(target: string): boolean {
  return target.includes('.');
}

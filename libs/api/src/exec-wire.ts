/**
 * The byte stream of `POST /api/v1/tasks/:id/exec` once the server answered
 * `101 Switching Protocols` (docs/api.md, "berth exec"). Both directions carry frames:
 *
 *   [type: 1 byte][length: 4 bytes, big-endian][payload: length bytes]
 *
 * client → server: stdin, stdin-close (EOF), resize ({"rows","cols"} as JSON)
 * server → client: stdout, stderr, exit ({"exitCode"} as JSON, last), error (a problem+json
 * document, last: the command did not run or was cut off)
 */
export const EXEC_UPGRADE = 'berth-exec.v1';

export const ExecFrameType = {
  stdin: 0,
  stdout: 1,
  stderr: 2,
  stdinClose: 3,
  resize: 4,
  exit: 5,
  error: 6,
} as const;
export type ExecFrameType = (typeof ExecFrameType)[keyof typeof ExecFrameType];

export interface ExecWireFrame {
  readonly type: ExecFrameType;
  readonly payload: Buffer;
}

/** Largest payload either side sends or accepts; stdio is cut into frames of at most this size. */
export const MAX_EXEC_PAYLOAD = 64 * 1024;
const HEADER = 5;
const TYPES = new Set<number>(Object.values(ExecFrameType));

export function encodeExecFrame(type: ExecFrameType, payload: Buffer | string = Buffer.alloc(0)): Buffer {
  const body = typeof payload === 'string' ? Buffer.from(payload) : payload;
  if (body.length > MAX_EXEC_PAYLOAD) throw new RangeError(`exec frame payload of ${body.length} bytes is larger than ${MAX_EXEC_PAYLOAD}`);
  const header = Buffer.alloc(HEADER);
  header.writeUInt8(type, 0);
  header.writeUInt32BE(body.length, 1);
  return Buffer.concat([header, body]);
}

/** Cuts a byte stream back into frames; throws on an unknown type or an oversized frame. */
export class ExecFrameDecoder {
  private buffered: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): ExecWireFrame[] {
    this.buffered = this.buffered.length === 0 ? chunk : Buffer.concat([this.buffered, chunk]);
    const frames: ExecWireFrame[] = [];
    while (this.buffered.length >= HEADER) {
      const type = this.buffered.readUInt8(0);
      const length = this.buffered.readUInt32BE(1);
      if (!TYPES.has(type)) throw new Error(`exec stream: unknown frame type ${type}`);
      if (length > MAX_EXEC_PAYLOAD) throw new Error(`exec stream: frame of ${length} bytes is larger than ${MAX_EXEC_PAYLOAD}`);
      if (this.buffered.length < HEADER + length) break;
      frames.push({ type: type as ExecFrameType, payload: this.buffered.subarray(HEADER, HEADER + length) });
      this.buffered = this.buffered.subarray(HEADER + length);
    }
    return frames;
  }

  /** Bytes of an incomplete frame still waiting for the rest. */
  get pending(): number {
    return this.buffered.length;
  }
}

/** The query of an exec request: what to run and how. */
export interface ExecRequest {
  readonly command: readonly string[];
  /** A terminal in the task (`-t`). */
  readonly tty: boolean;
  /** stdin is forwarded (`-i`); without it the command's stdin is at EOF from the start. */
  readonly stdin: boolean;
  readonly size?: { readonly rows: number; readonly cols: number };
}

export function execRequestQuery(r: ExecRequest): string {
  const q = new URLSearchParams();
  for (const arg of r.command) q.append('command', arg);
  if (r.tty) q.set('tty', 'true');
  if (r.stdin) q.set('stdin', 'true');
  if (r.size) {
    q.set('rows', String(r.size.rows));
    q.set('cols', String(r.size.cols));
  }
  return q.toString();
}

/** Reads ExecRequestQuery's form back; returns the problems instead when it is not valid. */
export function parseExecRequest(q: URLSearchParams): ExecRequest | { readonly problems: string[] } {
  const problems: string[] = [];
  const command = q.getAll('command');
  if (command.length === 0 || command[0] === '') problems.push('command: give the command to run, e.g. ?command=sh&command=-c&command=date');
  const flag = (name: string): boolean => {
    const v = q.get(name);
    if (v === null || v === 'false' || v === '0') return false;
    if (v === 'true' || v === '1') return true;
    problems.push(`${name}: must be true or false (got "${v}")`);
    return false;
  };
  const tty = flag('tty');
  const stdin = flag('stdin');
  const dim = (name: string): number | undefined => {
    const v = q.get(name);
    if (v === null) return undefined;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1 || n > 0xffff) {
      problems.push(`${name}: must be a whole number from 1 to 65535 (got "${v}")`);
      return undefined;
    }
    return n;
  };
  const rows = dim('rows');
  const cols = dim('cols');
  if ((rows === undefined) !== (cols === undefined)) problems.push('rows and cols: give both or neither');
  if (problems.length > 0) return { problems };
  return { command, tty, stdin, ...(rows !== undefined && cols !== undefined ? { size: { rows, cols } } : {}) };
}

/** A resize frame's payload, checked: both sides are whole numbers from 1 to 65535. */
export function parseTerminalSize(payload: Buffer): { rows: number; cols: number } | undefined {
  try {
    const v = JSON.parse(payload.toString()) as { rows?: unknown; cols?: unknown };
    const ok = (n: unknown): n is number => typeof n === 'number' && Number.isInteger(n) && n >= 1 && n <= 0xffff;
    return ok(v.rows) && ok(v.cols) ? { rows: v.rows, cols: v.cols } : undefined;
  } catch {
    return undefined;
  }
}

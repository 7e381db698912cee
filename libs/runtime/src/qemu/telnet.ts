import { ttyExitMarker } from './guest-protocol';

/**
 * The host's half of the telnet protocol, as far as busybox telnetd (the guest's source of
 * terminals, see guest-exec.ts) needs it. telnetd asks for options at the start (DO ECHO, DO
 * NAWS, WILL ECHO, WILL SGA); nothing is answered: it does not wait for answers, and the
 * terminal's size is set with `stty` in the guest rather than by NAWS.
 */
const IAC = 0xff;
const SB = 0xfa;
const SE = 0xf0;
const WILL = 0xfb;
const DONT = 0xfe;
const CR = 0x0d;

/**
 * Keyboard bytes for telnetd: IAC doubled, CR sent as CR NUL (telnetd turns CR NUL, and CR LF,
 * into CR), so what is typed or pasted reaches the terminal as it was. telnetd's own limits
 * remain: it drops a NUL that ends one of its reads, and keeps the NUL of a CR NUL its reads
 * split. Pure.
 */
export function telnetEncode(data: Buffer): Buffer {
  let extra = 0;
  for (const b of data) if (b === IAC || b === CR) extra++;
  if (extra === 0) return data;
  const out = Buffer.alloc(data.length + extra);
  let at = 0;
  for (const b of data) {
    out[at++] = b;
    if (b === IAC) out[at++] = IAC;
    else if (b === CR) out[at++] = 0;
  }
  return out;
}

/** telnetd's output as the terminal wrote it: negotiations and subnegotiations removed, IAC IAC as one 0xFF. Keeps its state between chunks. */
export class TelnetDecoder {
  private state: 'data' | 'iac' | 'option' | 'sb' | 'sb-iac' = 'data';

  decode(chunk: Buffer): Buffer {
    if (this.state === 'data' && !chunk.includes(IAC)) return chunk;
    const out = Buffer.alloc(chunk.length);
    let at = 0;
    for (const b of chunk) {
      switch (this.state) {
        case 'data':
          if (b === IAC) this.state = 'iac';
          else out[at++] = b;
          break;
        case 'iac':
          if (b === IAC) {
            out[at++] = IAC;
            this.state = 'data';
          } else if (b === SB) this.state = 'sb';
          else if (b >= WILL && b <= DONT) this.state = 'option';
          else this.state = 'data'; // a two-byte command (NOP, GA…)
          break;
        case 'option':
          this.state = 'data';
          break;
        case 'sb':
          if (b === IAC) this.state = 'sb-iac';
          break;
        case 'sb-iac':
          this.state = b === SE ? 'data' : 'sb';
          break;
      }
    }
    return out.subarray(0, at);
  }
}

/** What telnetd writes on every new terminal before its login program runs: the "issue" line (`puts("\r")`, through ONLCR). */
const ISSUE = Buffer.from('\r\r\n');

/**
 * The stdout of exec `id` on a terminal: telnetd's output decoded, without the empty line it
 * starts each session with, up to the exit marker the guest writes once the command ended
 * (ttyExitMarker), which also carries its exit code. A tail that may be the beginning of the
 * marker is held back until the next chunk shows what it is.
 */
export class TtyOutput {
  private readonly decoder = new TelnetDecoder();
  private issueSeen = 0;
  private readonly prefix: Buffer;
  private readonly end: number;
  private held = Buffer.alloc(0);
  private done = false;

  constructor(id: string) {
    const marker = ttyExitMarker(id);
    this.prefix = Buffer.from(marker.prefix, 'latin1');
    this.end = marker.end.charCodeAt(0);
  }

  /** The terminal's bytes so far, and the exit code once the marker has come (nothing after it is passed on). */
  push(chunk: Buffer): { readonly data: Buffer; readonly code?: number } {
    if (this.done) return { data: Buffer.alloc(0) };
    let decoded = this.decoder.decode(chunk);
    while (this.issueSeen < ISSUE.length && decoded.length > 0) {
      if (decoded[0] !== ISSUE[this.issueSeen]) {
        this.issueSeen = ISSUE.length;
        break;
      }
      decoded = decoded.subarray(1);
      this.issueSeen++;
    }
    const text = Buffer.concat([this.held, decoded]);
    this.held = Buffer.alloc(0);
    const at = text.indexOf(this.prefix);
    if (at >= 0) {
      const rest = text.subarray(at + this.prefix.length);
      const stop = rest.indexOf(this.end);
      const digits = rest.subarray(0, stop < 0 ? rest.length : stop).toString('latin1');
      if (stop >= 0 && /^\d{1,3}$/.test(digits)) {
        this.done = true;
        return { data: text.subarray(0, at), code: Number(digits) };
      }
      if (stop < 0 && /^\d{0,3}$/.test(digits)) {
        this.held = Buffer.from(text.subarray(at));
        return { data: text.subarray(0, at) };
      }
      return { data: text }; // looked like the marker, is not
    }
    const keep = this.partialPrefixAtEnd(text);
    this.held = Buffer.from(text.subarray(text.length - keep));
    return { data: text.subarray(0, text.length - keep) };
  }

  /** What was held back, when no more output comes. */
  flush(): Buffer {
    const rest = this.held;
    this.held = Buffer.alloc(0);
    return this.done ? Buffer.alloc(0) : rest;
  }

  /** The length of the longest end of `text` that the marker's prefix begins with. */
  private partialPrefixAtEnd(text: Buffer): number {
    for (let n = Math.min(this.prefix.length - 1, text.length); n > 0; n--) {
      if (text.subarray(text.length - n).equals(this.prefix.subarray(0, n))) return n;
    }
    return 0;
  }
}

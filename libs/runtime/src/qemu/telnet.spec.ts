import { describe, expect, it } from 'vitest';
import { TelnetDecoder, telnetEncode, TtyOutput } from './telnet';

const IAC = 0xff;
const bytes = (...parts: (string | number[])[]) => Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'latin1') : Buffer.from(p))));
const NEGOTIATION = [IAC, 0xfd, 1, IAC, 0xfd, 31, IAC, 0xfb, 1, IAC, 0xfb, 3]; // DO ECHO, DO NAWS, WILL ECHO, WILL SGA

describe('telnetEncode', () => {
  it('doubles IAC and sends CR as CR NUL, everything else as it is', () => {
    expect(telnetEncode(bytes('plain text\n'))).toEqual(bytes('plain text\n'));
    expect(telnetEncode(bytes('a', [IAC], 'b\r\nc\r'))).toEqual(bytes('a', [IAC, IAC], 'b\r', [0], '\nc\r', [0]));
  });
});

describe('TelnetDecoder', () => {
  it("drops telnetd's negotiation and subnegotiations and turns IAC IAC back into 0xff", () => {
    const d = new TelnetDecoder();
    expect(d.decode(bytes(NEGOTIATION, 'hi', [IAC, IAC], '!', [IAC, 0xfa, 31, 0, 80, 0, 24, IAC, 0xf0], [IAC, 0xf1], 'end'))).toEqual(bytes('hi', [IAC], '!end'));
  });

  it('keeps its place when a sequence is split between chunks', () => {
    const d = new TelnetDecoder();
    const stream = bytes('x', NEGOTIATION, 'y', [IAC, IAC], 'z');
    const out = [...stream].map((b) => d.decode(Buffer.from([b])));
    expect(Buffer.concat(out)).toEqual(bytes('xy', [IAC], 'z'));
  });
});

describe('TtyOutput', () => {
  const marker = (id: string, code: number) => `\x1b]berth-exit;${id};${code}\x07`;

  it("drops telnetd's first empty line and ends at the exit marker, with its code", () => {
    const t = new TtyOutput('abc123');
    expect(t.push(bytes(NEGOTIATION, '\r\r\n'))).toEqual({ data: bytes('') });
    expect(t.push(bytes('$ ls\r\n'))).toEqual({ data: bytes('$ ls\r\n') });
    expect(t.push(bytes(`bye\r\n${marker('abc123', 3)}after`))).toEqual({ data: bytes('bye\r\n'), code: 3 });
    expect(t.push(bytes('more'))).toEqual({ data: bytes('') });
    expect(t.flush()).toEqual(bytes(''));
  });

  it('finds the marker split anywhere, holding back only what may be its beginning', () => {
    const text = `out\x1b[0m${marker('abc123', 130)}`;
    for (let cut = 1; cut < text.length; cut++) {
      const t = new TtyOutput('abc123');
      t.push(bytes('\r\r\n'));
      const first = t.push(bytes(text.slice(0, cut)));
      const second = t.push(bytes(text.slice(cut)));
      expect(Buffer.concat([first.data, second.data]).toString('latin1')).toBe('out\x1b[0m');
      expect(second.code).toBe(130);
    }
  });

  it("passes on another exec's marker, escape sequences and a session that does not start with telnetd's line", () => {
    const t = new TtyOutput('abc123');
    // A trailing ESC ] may begin the marker: held back until the next chunk shows it does not.
    expect(t.push(bytes(`hello ${marker('fff000', 1)}\x1b]`)).data.toString('latin1')).toBe(`hello ${marker('fff000', 1)}`);
    expect(t.push(bytes('0;title\x07')).data.toString('latin1')).toBe('\x1b]0;title\x07');
    const held = new TtyOutput('abc123');
    expect(held.push(bytes('\r\r\nx\x1b]ber')).data.toString('latin1')).toBe('x');
    expect(held.flush().toString('latin1')).toBe('\x1b]ber');
  });
});

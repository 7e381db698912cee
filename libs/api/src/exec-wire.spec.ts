import { describe, expect, it } from 'vitest';
import { ExecFrameDecoder, ExecFrameType, MAX_EXEC_PAYLOAD, encodeExecFrame, execRequestQuery, parseExecRequest, parseTerminalSize } from './exec-wire';

describe('exec stream frames', () => {
  it('come back whole however the bytes are cut', () => {
    const bytes = Buffer.concat([
      encodeExecFrame(ExecFrameType.stdout, 'hello'),
      encodeExecFrame(ExecFrameType.stdinClose),
      encodeExecFrame(ExecFrameType.exit, JSON.stringify({ exitCode: 3 })),
    ]);
    const decoder = new ExecFrameDecoder();
    const frames = [];
    for (let i = 0; i < bytes.length; i++) frames.push(...decoder.push(bytes.subarray(i, i + 1)));
    expect(frames.map((f) => [f.type, f.payload.toString()])).toEqual([
      [ExecFrameType.stdout, 'hello'],
      [ExecFrameType.stdinClose, ''],
      [ExecFrameType.exit, '{"exitCode":3}'],
    ]);
    expect(decoder.pending).toBe(0);
  });

  it('refuse an unknown type and a frame larger than the limit, before its payload arrives', () => {
    expect(() => new ExecFrameDecoder().push(Buffer.from([9, 0, 0, 0, 0]))).toThrow(/unknown frame type 9/);
    const header = Buffer.from([ExecFrameType.stdin, 0, 0, 0, 0]);
    header.writeUInt32BE(MAX_EXEC_PAYLOAD + 1, 1);
    expect(() => new ExecFrameDecoder().push(header)).toThrow(/larger than/);
    expect(() => encodeExecFrame(ExecFrameType.stdout, Buffer.alloc(MAX_EXEC_PAYLOAD + 1))).toThrow(RangeError);
  });
});

describe('exec requests', () => {
  it('round-trip through the query string, arguments in order', () => {
    const request = { command: ['sh', '-c', 'echo "a b" && exit 3'], tty: true, stdin: true, size: { rows: 40, cols: 120 } };
    expect(parseExecRequest(new URLSearchParams(execRequestQuery(request)))).toEqual(request);
    expect(parseExecRequest(new URLSearchParams(execRequestQuery({ command: ['ls'], tty: false, stdin: false })))).toEqual({ command: ['ls'], tty: false, stdin: false });
  });

  it('say what is wrong with a bad one', () => {
    expect(parseExecRequest(new URLSearchParams('tty=yes&rows=0'))).toEqual({
      problems: [
        'command: give the command to run, e.g. ?command=sh&command=-c&command=date',
        'tty: must be true or false (got "yes")',
        'rows: must be a whole number from 1 to 65535 (got "0")',
      ],
    });
    expect(parseExecRequest(new URLSearchParams('command=ls&rows=10'))).toEqual({ problems: ['rows and cols: give both or neither'] });
  });

  it('read a terminal size only when both sides are sensible', () => {
    expect(parseTerminalSize(Buffer.from('{"rows":50,"cols":132}'))).toEqual({ rows: 50, cols: 132 });
    expect(parseTerminalSize(Buffer.from('{"rows":0,"cols":132}'))).toBeUndefined();
    expect(parseTerminalSize(Buffer.from('not json'))).toBeUndefined();
  });
});

import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { ExecFrame } from '@berth/proto';
import type { ExecProcess } from '@berth/runtime';
import { ExecRelay, STDIN_WINDOW } from './exec-relay';

type Frame = NonNullable<ExecFrame['frame']>;

/** A command double: its streams are plain pipes the test writes to and reads from. */
function fakeProcess() {
  const stdin = new PassThrough();
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let exit!: (code: number) => void;
  const exited = new Promise<number>((resolve) => (exit = resolve));
  const calls: string[] = [];
  const proc: ExecProcess = {
    stdin,
    stdout,
    stderr,
    exited,
    resize: async (s) => void calls.push(`resize ${s.rows}x${s.cols}`),
    kill: async () => {
      calls.push('kill');
      stdout.end();
      stderr.end();
      exit(137);
    },
  };
  const finish = (code: number) => {
    stdout.end();
    stderr.end();
    exit(code);
  };
  return { proc, stdin, stdout, stderr, calls, finish };
}

function relayWith(proc: ExecProcess | Error) {
  const sent: Frame[] = [];
  const relay = new ExecRelay(
    async () => {
      if (proc instanceof Error) throw proc;
      return proc;
    },
    (_id, frame) => sent.push(frame),
    () => undefined,
  );
  const start = (credit: number) =>
    relay.receive({ execId: 'e1', frame: { $case: 'start', value: { taskId: 'web.1.a', command: ['sh'], tty: false, size: undefined, credit } } });
  return { relay, sent, start };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));
const text = (frames: Frame[], stream: 'stdout' | 'stderr') =>
  Buffer.concat(frames.flatMap((f) => (f.$case === stream ? [f.value] : []))).toString();

describe('ExecRelay (the agent end of berth exec)', () => {
  it('relays output, then the exit code, after granting stdin room', async () => {
    const p = fakeProcess();
    const { sent, start } = relayWith(p.proc);
    start(1024);
    await tick();
    expect(sent[0]).toEqual({ $case: 'credit', value: STDIN_WINDOW });
    p.stdout.write('out');
    p.stderr.write('err');
    p.finish(3);
    await tick();
    await tick();
    expect(text(sent, 'stdout')).toBe('out');
    expect(text(sent, 'stderr')).toBe('err');
    expect(sent.at(-1)).toEqual({ $case: 'exit', value: { exitCode: 3, error: '' } });
  });

  it('sends no more output than the control plane granted, and the rest once it grants more', async () => {
    const p = fakeProcess();
    const { relay, sent, start } = relayWith(p.proc);
    start(4);
    await tick();
    p.stdout.write('0123456789');
    p.finish(0);
    await tick();
    await tick();
    expect(text(sent, 'stdout')).toBe('0123');
    expect(sent.some((f) => f.$case === 'exit')).toBe(false); // not before all output went out
    relay.receive({ execId: 'e1', frame: { $case: 'credit', value: 100 } });
    await tick();
    await tick();
    expect(text(sent, 'stdout')).toBe('0123456789');
    expect(sent.at(-1)).toEqual({ $case: 'exit', value: { exitCode: 0, error: '' } });
  });

  it('writes stdin to the command, grants the room back once taken, and passes EOF and resizes', async () => {
    const p = fakeProcess();
    const { relay, sent, start } = relayWith(p.proc);
    start(1024);
    await tick();
    const got: Buffer[] = [];
    p.stdin.on('data', (d: Buffer) => got.push(d));
    let eof = false;
    p.stdin.on('end', () => (eof = true));
    relay.receive({ execId: 'e1', frame: { $case: 'stdin', value: Buffer.from('hello') } });
    relay.receive({ execId: 'e1', frame: { $case: 'stdinClosed', value: true } });
    relay.receive({ execId: 'e1', frame: { $case: 'resize', value: { rows: 50, cols: 132 } } });
    await tick();
    expect(Buffer.concat(got).toString()).toBe('hello');
    expect(eof).toBe(true);
    expect(sent).toContainEqual({ $case: 'credit', value: 5 });
    expect(p.calls).toEqual(['resize 50x132']);
  });

  it('kills the command on cancel and when the session ends', async () => {
    const a = fakeProcess();
    const one = relayWith(a.proc);
    one.start(1024);
    await tick();
    one.relay.receive({ execId: 'e1', frame: { $case: 'cancel', value: true } });
    await tick();
    expect(a.calls).toEqual(['kill']);

    const b = fakeProcess();
    const two = relayWith(b.proc);
    two.start(1024);
    await tick();
    b.stdout.write('never read');
    two.relay.closeAll();
    await tick();
    await tick();
    expect(b.calls).toEqual(['kill']);
    expect(two.relay.size).toBe(0);
  });

  it('answers a start it cannot carry out with the reason as its exit', async () => {
    const { sent, start } = relayWith(new Error('task web.1.a is exited, not running'));
    start(1024);
    await tick();
    expect(sent).toEqual([{ $case: 'exit', value: { exitCode: -1, error: 'task web.1.a is exited, not running' } }]);
  });
});

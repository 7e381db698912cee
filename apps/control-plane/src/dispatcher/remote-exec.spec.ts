import { describe, expect, it } from 'vitest';
import type { ExecFrame } from '@berth/proto';
import { RemoteExec, type ExecOutcome } from './remote-exec';

type Frame = NonNullable<ExecFrame['frame']>;

function remote() {
  const sent: Frame[] = [];
  let finished = 0;
  const exec = new RemoteExec('e1', (f) => sent.push(f), () => finished++);
  const seen: string[] = [];
  const ends: ExecOutcome[] = [];
  exec.listen({ output: (s, d) => seen.push(`${s}:${d.toString()}`), writable: () => seen.push('writable'), ended: (o) => ends.push(o) });
  return { exec, sent, seen, ends, finished: () => finished };
}

describe('RemoteExec (the control plane end of berth exec)', () => {
  it('sends stdin only within the room the agent granted', () => {
    const r = remote();
    expect(r.exec.writeStdin(Buffer.from('abc'))).toBe(false);
    r.exec.receive({ $case: 'credit', value: 4 });
    expect(r.seen).toEqual(['writable']);
    expect(r.exec.writeStdin(Buffer.from('abc'))).toBe(true);
    expect(r.exec.stdinRoom).toBe(1);
    expect(r.exec.writeStdin(Buffer.from('de'))).toBe(false);
    expect(r.sent).toEqual([{ $case: 'stdin', value: Buffer.from('abc') }]);
  });

  it('hands output to its listener and grants the agent what the client consumed', () => {
    const r = remote();
    r.exec.receive({ $case: 'stdout', value: Buffer.from('out') });
    r.exec.receive({ $case: 'stderr', value: Buffer.from('err') });
    r.exec.consumed(3);
    expect(r.seen).toEqual(['stdout:out', 'stderr:err']);
    expect(r.sent).toEqual([{ $case: 'credit', value: 3 }]);
  });

  it('ends once, with the exit code or the reason, and then sends nothing', () => {
    const r = remote();
    r.exec.receive({ $case: 'exit', value: { exitCode: 7, error: '' } });
    r.exec.finish({ error: 'node n1 disconnected' });
    r.exec.resize(10, 10);
    r.exec.cancel();
    expect(r.ends).toEqual([{ exitCode: 7 }]);
    expect(r.finished()).toBe(1);
    expect(r.sent).toEqual([]);
  });

  it('tells the agent to kill the command when the client goes away', () => {
    const r = remote();
    r.exec.cancel();
    expect(r.sent).toEqual([{ $case: 'cancel', value: true }]);
    expect(r.ends).toEqual([{ error: 'cancelled' }]);
  });
});

import { describe, expect, it } from 'vitest';
import { choosePorts, parsePorts } from './embedded-ports';

const counter = (start: number) => {
  let next = start;
  return async () => next++;
};

describe('parsePorts', () => {
  it('reads a valid record', () => {
    expect(parsePorts('{"client":2379,"peer":2380}')).toEqual({ client: 2379, peer: 2380 });
  });

  it.each([[undefined], ['not json'], ['{"client":2379}'], ['{"client":2379,"peer":2379}'], ['{"client":0,"peer":1}'], ['{"client":70000,"peer":1}']])(
    'ignores %j',
    (text) => expect(parsePorts(text)).toBeUndefined(),
  );
});

describe('choosePorts', () => {
  it('keeps the recorded ports while both are free', async () => {
    const recorded = { client: 3000, peer: 3001 };
    expect(await choosePorts(recorded, async () => true, counter(5000))).toBe(recorded);
  });

  it('takes fresh ports when a recorded one is taken', async () => {
    const recorded = { client: 3000, peer: 3001 };
    expect(await choosePorts(recorded, async (p) => p !== 3001, counter(5000))).toEqual({ client: 5000, peer: 5001 });
  });

  it('takes fresh, distinct ports when nothing is recorded', async () => {
    const ports = [4000, 4000, 4001];
    const fresh = async () => ports.shift()!;
    expect(await choosePorts(undefined, async () => true, fresh)).toEqual({ client: 4000, peer: 4001 });
  });
});

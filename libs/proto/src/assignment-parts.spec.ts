import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ASSIGNMENT_PART_BYTES, FullSetAssembler, fullSetParts, MAX_SESSION_MESSAGE_BYTES } from './assignment-parts';
import { DesiredState, SessionResponse, type Assignment, type Assignments } from './gen/berth/agent/v1/agent';

const assignment = (id: string, envBytes = 0): Assignment => ({
  taskId: id,
  service: 'web',
  slot: 1,
  desiredState: DesiredState.DESIRED_STATE_RUNNING,
  spec: { runtime: 'container', image: 'oci:/x:1', command: [], env: envBytes > 0 ? { BIG: 'x'.repeat(envBytes) } : {}, ports: [], volumes: [], stopGracePeriodMs: 1 } as never,
  specGeneration: 1,
  fenced: false,
});
const ids = (m: Assignments): string[] => m.upsert.map((a) => a.taskId);
const increment = (generation: number, id: string): Assignments => ({ generation, full: false, upsert: [assignment(id)], remove: [], more: false });

describe('a full assignment set in parts', () => {
  it('goes as one message when it fits, as before parts existed', () => {
    const parts = fullSetParts(7, [assignment('a'), assignment('b')]);
    expect(parts).toEqual([{ generation: 7, full: true, upsert: [assignment('a'), assignment('b')], remove: [], more: false }]);
    expect(fullSetParts(8, [])).toEqual([{ generation: 8, full: true, upsert: [], remove: [], more: false }]);
  });

  it('110 tasks with a 40 KB env value each (4.4 MB) go as parts that each fit the agent’s receive limit', () => {
    const all = Array.from({ length: 110 }, (_, i) => assignment(`web.${i}.x`, 40_000));
    const parts = fullSetParts(3, all);
    expect(parts.length).toBeGreaterThan(4);
    expect(parts.map((p) => p.more)).toEqual([...parts.slice(1).map(() => true), false]);
    for (const p of parts) {
      const bytes = SessionResponse.encode({ msg: { $case: 'assignments', value: p } }).finish().length;
      expect(bytes).toBeLessThanOrEqual(ASSIGNMENT_PART_BYTES + 64);
      expect(bytes).toBeLessThan(MAX_SESSION_MESSAGE_BYTES);
    }
    expect(parts.flatMap(ids)).toEqual(all.map((a) => a.taskId));
  });

  it('puts one assignment larger than the budget in a part of its own', () => {
    const parts = fullSetParts(1, [assignment('a'), assignment('big'), assignment('c')], 10, (a) => (a.taskId === 'big' ? 100 : 6));
    expect(parts.map(ids)).toEqual([['a'], ['big'], ['c']]);
  });

  it('assembled, any split gives back the whole set in order, acted on once, at the last part', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 50 }), { maxLength: 40 }), fc.integer({ min: 1, max: 120 }), (sizes, budget) => {
        const all = sizes.map((_, i) => assignment(`t${i}`));
        const parts = fullSetParts(5, all, budget, (a) => sizes[Number(a.taskId.slice(1))]!);
        const assembler = new FullSetAssembler();
        const acted = parts.flatMap((p) => assembler.add(p));
        expect(acted).toHaveLength(1);
        expect(acted[0]).toMatchObject({ generation: 5, full: true, more: false });
        expect(ids(acted[0]!)).toEqual(all.map((a) => a.taskId));
        expect(assembler.assembling).toBe(false);
      }),
    );
  });

  it('never acts on a first part alone: nothing is stopped until the set is whole', () => {
    const [first, second] = fullSetParts(2, [assignment('a'), assignment('b')], 1, () => 1);
    const assembler = new FullSetAssembler();
    expect(assembler.add(first!)).toEqual([]);
    expect(assembler.assembling).toBe(true);
    expect(assembler.add(second!).map(ids)).toEqual([['a', 'b']]);
  });

  it('holds an increment that arrives mid-set until after the set, and passes increments through otherwise', () => {
    const [first, second] = fullSetParts(2, [assignment('a'), assignment('b')], 1, () => 1);
    const assembler = new FullSetAssembler();
    expect(assembler.add(increment(1, 'x')).map(ids)).toEqual([['x']]);
    assembler.add(first!);
    expect(assembler.add(increment(3, 'c'))).toEqual([]);
    expect(assembler.add(second!).map((m) => [m.generation, m.full, ids(m)])).toEqual([
      [2, true, ['a', 'b']],
      [3, false, ['c']],
    ]);
  });

  it('drops the parts of an older set when a new set begins', () => {
    const old = fullSetParts(2, [assignment('a'), assignment('b')], 1, () => 1);
    const next = fullSetParts(4, [assignment('c')]);
    const assembler = new FullSetAssembler();
    assembler.add(old[0]!);
    expect(assembler.add(next[0]!).map(ids)).toEqual([['c']]);
  });
});

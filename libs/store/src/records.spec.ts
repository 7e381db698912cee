import { ConflictError } from '@berth/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { draft } from './__fixtures__/service';
import { canonicalJson } from '@berth/core';
import { batches, decide, decodeRecord, duplicateNames, encodeRecord, revise, toService, type StoredRecord } from './records';

const NOW = '2026-01-01T00:00:00.000Z';
const LATER = '2026-01-02T00:00:00.000Z';

function stored(replicas = 1, modRevision = '42', generation = 3): StoredRecord {
  const d = draft('web', replicas);
  return {
    record: { name: 'web', labels: d.labels, spec: d.spec, generation, revision: generation, createdAt: NOW, updatedAt: NOW },
    modRevision,
  };
}

describe('decide', () => {
  it('creates an absent service at generation 1, guarded by "key absent"', () => {
    const d = decide(draft('web'), undefined, NOW);
    expect(d).toMatchObject({ action: 'created', guard: { kind: 'absent' }, keptRevision: undefined });
    expect(d.record).toMatchObject({ generation: 1, createdAt: NOW, updatedAt: NOW });
  });

  it('reports an equal spec and labels as unchanged, keeping revision and generation', () => {
    const d = decide(draft('web'), stored(), LATER);
    expect(d).toMatchObject({ action: 'unchanged', keptRevision: '42', guard: { kind: 'revision', modRevision: '42' } });
    expect(d.record.generation).toBe(3);
    expect(d.record.updatedAt).toBe(NOW);
  });

  it('treats key order as irrelevant when comparing', () => {
    const s = stored();
    const reordered = { ...draft('web'), spec: { ...s.record.spec, template: { ...s.record.spec.template, env: { B: '2', A: '1' } } } };
    expect(decide(reordered, s, LATER).action).toBe('unchanged');
  });

  it('configures a changed service: generation + 1, createdAt kept, guarded by the read revision', () => {
    const d = decide(draft('web', 5), stored(), LATER);
    expect(d).toMatchObject({ action: 'configured', guard: { kind: 'revision', modRevision: '42' } });
    expect(d.record).toMatchObject({ generation: 4, createdAt: NOW, updatedAt: LATER });
    expect(d.record.spec.replicas).toBe(5);
  });

  it('a scale is a new generation but no new revision; any other spec change is both', () => {
    const scaled = decide(draft('web', 5), stored(), LATER);
    expect(scaled.record).toMatchObject({ generation: 4, revision: 3 });
    const d = draft('web', 1);
    const changed = decide({ ...d, spec: { ...d.spec, template: { ...d.spec.template, image: 'oci:/img:2' } } }, stored(), LATER);
    expect(changed.record).toMatchObject({ generation: 4, revision: 4 });
    expect(changed.storedRevision).toBe(3);
  });

  it('reads records stored before rollouts with the defaults of their new settings', () => {
    const { revision: _revision, ...old } = stored().record;
    const { rollback: _rollback, ...spec } = old.spec;
    const r = decodeRecord(JSON.stringify({ ...old, spec: { ...spec, update: { ...spec.update, maxFailureRatio: undefined } } }));
    expect(r.revision).toBe(3);
    expect(r.spec.update.maxFailureRatio).toBe(0);
    expect(r.spec.rollback).toEqual({ parallelism: 1, delayMs: 0, monitorMs: 5000, maxFailureRatio: 0, failureAction: 'pause', order: 'stop-first' });
  });

  it('revise restores a spec with the current replicas, or restarts, always as a new revision', () => {
    const current = stored(4).record;
    const d = draft('web', 1);
    const older = { ...d.spec, template: { ...d.spec.template, image: 'oci:/img:0' } };
    expect(revise(current, { restore: older }, LATER)).toMatchObject({ generation: 4, revision: 4, spec: { replicas: 4, template: { image: 'oci:/img:0' } } });
    expect(revise(current, { restart: true }, LATER)).toMatchObject({ generation: 4, revision: 4, restartGeneration: 4, spec: current.spec });
  });

  it('revise with a restart re-pins the image digest, unpins it with null, keeps it when not given', () => {
    const [a, b] = [`sha256:${'a'.repeat(64)}`, `sha256:${'b'.repeat(64)}`];
    const current = stored(4).record;
    const pinned = { ...current, spec: { ...current.spec, template: { ...current.spec.template, imageDigest: a } } };
    expect(revise(pinned, { restart: true, imageDigest: b }, LATER).spec.template).toEqual({ ...current.spec.template, imageDigest: b });
    expect(revise(pinned, { restart: true }, LATER).spec.template.imageDigest).toBe(a);
    expect(revise(pinned, { restart: true, imageDigest: null }, LATER).spec.template).toEqual(current.spec.template);
    expect(revise(current, { restart: true, imageDigest: b }, LATER).spec).toEqual({ ...current.spec, template: { ...current.spec.template, imageDigest: b } });
  });

  it('counts a label change as a change', () => {
    expect(decide(draft('web', 1, { labels: { a: 'b' } }), stored(), LATER).action).toBe('configured');
  });

  it('refuses a stale resourceVersion, naming the service and both versions', () => {
    const run = () => decide(draft('web', 2, { resourceVersion: '7' }), stored(1, '42'), LATER);
    expect(run).toThrow(ConflictError);
    expect(run).toThrow(/"web".*7.*42/);
  });

  it('refuses a resourceVersion for a service that does not exist', () => {
    expect(() => decide(draft('web', 1, { resourceVersion: '7' }), undefined, NOW)).toThrow(ConflictError);
  });

  it('accepts the current resourceVersion', () => {
    expect(decide(draft('web', 2, { resourceVersion: '42' }), stored(1, '42'), LATER).action).toBe('configured');
  });
});

describe('records', () => {
  it('round-trips through JSON, with resourceVersion taken from the key', () => {
    const r = stored().record;
    const s = toService(decodeRecord(encodeRecord(r)), '99');
    expect(s.meta).toEqual({ name: 'web', labels: {}, resourceVersion: '99', generation: 3, revision: 3, createdAt: NOW, updatedAt: NOW });
    expect(s.spec).toEqual(r.spec);
  });

  it('canonical JSON ignores key order at every depth', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string(), fc.dictionary(fc.string(), fc.integer())), (obj) => {
        const reversed = Object.fromEntries(
          Object.entries(obj)
            .reverse()
            .map(([k, v]) => [k, Object.fromEntries(Object.entries(v).reverse())]),
        );
        expect(canonicalJson(reversed)).toBe(canonicalJson(obj));
      }),
    );
  });

  it('finds names given twice', () => {
    expect(duplicateNames([draft('a'), draft('b'), draft('a')])).toEqual(['a']);
    expect(duplicateNames([draft('a'), draft('b')])).toEqual([]);
  });
});

describe('batches', () => {
  it('splits into consecutive batches of at most n, losing nothing', () => {
    fc.assert(
      fc.property(fc.array(fc.integer(), { maxLength: 500 }), fc.integer({ min: 1, max: 200 }), (items, n) => {
        const out = batches(items, n);
        expect(out.flat()).toEqual(items);
        expect(out.every((b) => b.length >= 1 && b.length <= n)).toBe(true);
      }),
    );
  });

  it('cuts 300 status writes into txns of at most 128 ops', () => {
    expect(batches(Array.from({ length: 300 }, (_, i) => i), 127).map((b) => b.length)).toEqual([127, 127, 46]);
  });
});

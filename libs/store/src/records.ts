import { canonicalJson, ConflictError, type Service, type ServiceDraft, type ServiceSpec } from '@berth/core';
import type { ApplyAction } from './store';

/** What the services/<name> key holds (JSON). resourceVersion is not stored: it is the key's mod_revision. */
export interface ServiceRecord {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly spec: ServiceSpec;
  readonly generation: number;
  readonly createdAt: string;
  readonly updatedAt: string;
}

/** A record as read from etcd, with the key's mod_revision. */
export interface StoredRecord {
  readonly record: ServiceRecord;
  readonly modRevision: string;
}


export function encodeRecord(record: ServiceRecord): string {
  return JSON.stringify(record);
}

export function decodeRecord(text: string): ServiceRecord {
  const record = JSON.parse(text) as ServiceRecord;
  // Records stored before `fencing` existed mean what its default means.
  return { ...record, spec: { ...record.spec, fencing: record.spec.fencing ?? false } };
}

export function toService(record: ServiceRecord, resourceVersion: string): Service {
  return {
    meta: {
      name: record.name,
      labels: record.labels,
      resourceVersion,
      generation: record.generation,
      createdAt: record.createdAt,
      updatedAt: record.updatedAt,
    },
    spec: record.spec,
  };
}

/** The etcd guard a write needs so that nobody changed the key since we read it. */
export type Guard = { readonly kind: 'absent' } | { readonly kind: 'revision'; readonly modRevision: string };

export interface Decision {
  readonly name: string;
  readonly action: ApplyAction;
  /** The record to store (for `unchanged`, the stored one, which is not rewritten). */
  readonly record: ServiceRecord;
  readonly guard: Guard;
  /** The stored mod_revision for `unchanged`; undefined when the key will be (re)written. */
  readonly keptRevision: string | undefined;
}

function sameContent(a: Pick<ServiceRecord, 'labels' | 'spec'>, b: Pick<ServiceRecord, 'labels' | 'spec'>): boolean {
  return canonicalJson({ labels: a.labels, spec: a.spec }) === canonicalJson({ labels: b.labels, spec: b.spec });
}

/**
 * Decides what applying `draft` over `stored` does. Throws ConflictError when the draft carries
 * a resourceVersion that is not the stored one (or the service no longer exists).
 */
export function decide(draft: ServiceDraft, stored: StoredRecord | undefined, now: string): Decision {
  if (draft.resourceVersion !== undefined && draft.resourceVersion !== stored?.modRevision) {
    const actual = stored ? `resourceVersion ${stored.modRevision}` : 'it does not exist';
    throw new ConflictError(
      `service "${draft.name}" was changed by someone else: you sent resourceVersion ${draft.resourceVersion}, ` +
        `but ${actual}; get it again and re-apply`,
    );
  }
  if (!stored) {
    const record = { name: draft.name, labels: draft.labels, spec: draft.spec, generation: 1, createdAt: now, updatedAt: now };
    return { name: draft.name, action: 'created', record, guard: { kind: 'absent' }, keptRevision: undefined };
  }
  const guard: Guard = { kind: 'revision', modRevision: stored.modRevision };
  if (sameContent(draft, stored.record)) {
    return { name: draft.name, action: 'unchanged', record: stored.record, guard, keptRevision: stored.modRevision };
  }
  const record = {
    ...stored.record,
    labels: draft.labels,
    spec: draft.spec,
    generation: stored.record.generation + 1,
    updatedAt: now,
  };
  return { name: draft.name, action: 'configured', record, guard, keptRevision: undefined };
}

/** Names that appear more than once in one apply (one txn cannot write a key twice). */
export function duplicateNames(drafts: readonly ServiceDraft[]): string[] {
  const seen = new Set<string>();
  const dups = new Set<string>();
  for (const d of drafts) (seen.has(d.name) ? dups : seen).add(d.name);
  return [...dups];
}

/** Splits `items` into consecutive batches of at most `size` (etcd's default limit is 128 ops per txn). */
export function batches<T>(items: readonly T[], size: number): T[][] {
  if (size < 1) throw new RangeError(`batch size must be ≥ 1 (got ${size})`);
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

import { canonicalJson, ConflictError, ValidationError, type Revision, type RolloutControl, type Service, type ServiceDraft, type ServiceSpec, type TaskTemplate, type UpdateConfig } from '@berth/core';
import type { ApplyAction } from './store';

/** What the services/<name> key holds (JSON). resourceVersion is not stored: it is the key's mod_revision. */
export interface ServiceRecord {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly spec: ServiceSpec;
  readonly generation: number;
  /** ServiceMeta.revision: bumps on every spec change but `replicas`, and on restart. */
  readonly revision: number;
  readonly restartGeneration?: number;
  readonly rolloutControl?: RolloutControl;
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

/** Swarm's defaults, for records stored before rollouts had these settings. */
const STORED_ROLLBACK_DEFAULT: UpdateConfig = { parallelism: 1, delayMs: 0, monitorMs: 5000, maxFailureRatio: 0, failureAction: 'pause', order: 'stop-first' };

export function decodeRecord(text: string): ServiceRecord {
  const record = JSON.parse(text) as ServiceRecord;
  // Records stored before a setting existed mean what its default means.
  const spec = record.spec as ServiceSpec & Partial<Pick<ServiceSpec, 'fencing' | 'rollback'>>;
  return {
    ...record,
    revision: record.revision ?? record.generation,
    spec: {
      ...spec,
      fencing: spec.fencing ?? false,
      update: { ...spec.update, maxFailureRatio: spec.update.maxFailureRatio ?? 0 },
      rollback: spec.rollback ?? STORED_ROLLBACK_DEFAULT,
    },
  };
}

/** A history entry's stored text (`history/<service>/<revision>`). */
export function encodeRevision(r: Revision): string {
  return JSON.stringify(r);
}

export function decodeRevision(text: string): Revision {
  const r = JSON.parse(text) as Revision;
  return { ...r, spec: decodeRecord(JSON.stringify({ spec: r.spec, generation: r.generation })).spec };
}

/** The history entry a record's current revision gets. */
export function revisionOf(record: ServiceRecord, cause: string): Revision {
  return { revision: record.revision, generation: record.generation, spec: record.spec, createdAt: record.updatedAt, cause };
}

export function toService(record: ServiceRecord, resourceVersion: string): Service {
  return {
    meta: {
      name: record.name,
      labels: record.labels,
      resourceVersion,
      generation: record.generation,
      revision: record.revision,
      ...(record.restartGeneration === undefined ? {} : { restartGeneration: record.restartGeneration }),
      ...(record.rolloutControl === undefined ? {} : { rolloutControl: record.rolloutControl }),
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
  /** The stored record's revision (ServiceMeta.revision); undefined for a new service. */
  readonly storedRevision?: number;
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
    const record = { name: draft.name, labels: draft.labels, spec: draft.spec, generation: 1, revision: 1, createdAt: now, updatedAt: now };
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
    // A scale is no new revision: nothing rolls out, and undo/rollback keep the replicas.
    revision: sameSpecButReplicas(draft.spec, stored.record.spec) ? stored.record.revision : stored.record.revision + 1,
    updatedAt: now,
  };
  return { name: draft.name, action: 'configured', record, guard, keptRevision: undefined, storedRevision: stored.record.revision };
}

export function sameSpecButReplicas(a: ServiceSpec, b: ServiceSpec): boolean {
  return canonicalJson({ ...a, replicas: 0 }) === canonicalJson({ ...b, replicas: 0 });
}

/**
 * The record `berth scale` writes, or undefined when `replicas` is already stored. A global
 * service runs one task per eligible node: a replica count would be stored and ignored, so it is
 * refused.
 */
export function scaled(current: ServiceRecord, replicas: number, now: string): ServiceRecord | undefined {
  if (current.spec.mode === 'global') {
    throw new ValidationError([{ path: 'replicas', message: `service "${current.name}" is global: it runs one task on every eligible node and cannot be scaled (change its placement, or nodes' labels and availability, instead)` }]);
  }
  if (current.spec.replicas === replicas) return undefined;
  return { ...current, spec: { ...current.spec, replicas }, generation: current.generation + 1, updatedAt: now };
}

/**
 * The record that makes `target`'s spec current again (undo, rollback) or, without a target,
 * restarts every task (restart): always a new generation and revision. A restart may re-pin the
 * image: `imageDigest` replaces `spec.template.imageDigest` (null removes it; absent keeps it).
 */
export function revise(
  current: ServiceRecord,
  change: { readonly restore?: ServiceSpec; readonly restart?: boolean; readonly imageDigest?: string | null },
  now: string,
): ServiceRecord {
  const generation = current.generation + 1;
  const spec = change.restore ? { ...change.restore, replicas: current.spec.replicas } : current.spec;
  return {
    ...current,
    spec: change.imageDigest === undefined ? spec : { ...spec, template: pinnedTemplate(spec.template, change.imageDigest) },
    generation,
    revision: current.revision + 1,
    ...(change.restart ? { restartGeneration: generation } : {}),
    updatedAt: now,
  };
}

function pinnedTemplate(t: TaskTemplate, digest: string | null): TaskTemplate {
  const { imageDigest: _old, ...rest } = t;
  return digest === null ? rest : { ...rest, imageDigest: digest };
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

import type { NodeInfo, Rollout, Service, ServiceStatus } from '@berth/core';
import type { IKeyValue } from 'etcd3';
import { nameOf } from './keys';
import { decodeRecord, toService } from './records';
import { decodeNodeRecord, nodeInfoOf, type NodeLivenessRecord } from './node-records';
import type { TaskRecord } from './store';

/**
 * How each collection's values are stored: JSON of the domain object without `resourceVersion`
 * (that is the key's mod_revision, filled in on read). Writers of tasks use `encodeVersioned` so
 * readers and informers agree with them; nodes/ holds a NodeRecord (node-records.ts).
 */
export interface Codec<T> {
  /** The informer/cache key of a stored etcd key: the object's name or task id. */
  keyOf(etcdKey: string): string;
  decode(kv: IKeyValue): T;
}

export function encodeVersioned<T extends { readonly resourceVersion: string }>(value: T): string {
  const { resourceVersion: _ignored, ...rest } = value;
  return JSON.stringify(rest);
}

function versioned<T>(kv: IKeyValue): T {
  return { ...(JSON.parse(kv.value.toString()) as object), resourceVersion: kv.mod_revision } as T;
}

export const serviceCodec: Codec<Service> = {
  keyOf: nameOf,
  decode: (kv) => toService(decodeRecord(kv.value.toString()), kv.mod_revision),
};

export const statusCodec: Codec<ServiceStatus> = {
  keyOf: nameOf,
  decode: (kv) => JSON.parse(kv.value.toString()) as ServiceStatus,
};

export const rolloutCodec: Codec<Rollout> = {
  keyOf: nameOf,
  decode: (kv) => JSON.parse(kv.value.toString()) as Rollout,
};

export const taskCodec: Codec<TaskRecord> = { keyOf: nameOf, decode: (kv) => versioned<TaskRecord>(kv) };

/**
 * Decodes the stored node as readers see it (the operator's labels over the agent's); `state` is
 * not stored and reads `unknown` until joined with the alive key.
 */
export const nodeCodec: Codec<NodeInfo> = { keyOf: nameOf, decode: (kv) => nodeInfoOf(decodeNodeRecord(kv.value.toString()), kv.mod_revision) };

export const nodeLivenessCodec: Codec<NodeLivenessRecord> = {
  keyOf: nameOf,
  decode: (kv) => JSON.parse(kv.value.toString()) as NodeLivenessRecord,
};

/** An alive key decodes to the revision its session bound it at. */
export const aliveCodec: Codec<string> = { keyOf: nameOf, decode: (kv) => kv.mod_revision };

import type { Etcd3, ICompare, IKeyValue, IRequestOp, ITxnResponse } from 'etcd3';
import { etcdCall } from './etcd-client';
import { prefixEnd } from './keys';

/** Thin, typed helpers over etcd's raw KV API (keys are absolute; no etcd3 namespace). */

export interface RangeResult {
  readonly kvs: IKeyValue[];
  /** The store revision the answer reflects. */
  readonly revision: string;
}

export function rangePrefix(client: Etcd3, prefix: string): Promise<RangeResult> {
  return etcdCall(client, `list ${prefix}`, async () => {
    const res = await client.kv.range({ key: Buffer.from(prefix), range_end: prefixEnd(prefix) });
    return { kvs: res.kvs, revision: res.header.revision };
  });
}

export async function getKey(client: Etcd3, key: string): Promise<IKeyValue | undefined> {
  return etcdCall(client, `read ${key}`, async () => (await client.kv.range({ key: Buffer.from(key) })).kvs[0]);
}

export const ifAbsent = (key: string): ICompare => ({ key: Buffer.from(key), target: 'Version', result: 'Equal', version: 0 });

export const ifModRevision = (key: string, rev: string): ICompare => ({
  key: Buffer.from(key),
  target: 'Mod',
  result: 'Equal',
  mod_revision: rev,
});

export const ifCreateRevision = (key: string, rev: string): ICompare => ({
  key: Buffer.from(key),
  target: 'Create',
  result: 'Equal',
  create_revision: rev,
});

export const putOp = (key: string, value: string, lease?: string): IRequestOp => ({
  request_put: { key: Buffer.from(key), value: Buffer.from(value), ...(lease ? { lease } : {}) },
});

export const deleteOp = (key: string): IRequestOp => ({ request_delete_range: { key: Buffer.from(key) } });

export interface TxnSpec {
  readonly compare: ICompare[];
  readonly success: IRequestOp[];
  readonly failure?: IRequestOp[];
}

export function txn(client: Etcd3, what: string, spec: TxnSpec, tooLarge?: () => string): Promise<ITxnResponse> {
  return etcdCall(client, what, () => client.kv.txn({ compare: spec.compare, success: spec.success, failure: spec.failure ?? [] }), tooLarge);
}

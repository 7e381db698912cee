/**
 * etcd's transaction limits. The distribution's defaults are small; berth's embedded etcd raises
 * them so a 4 MiB manifest of many services is one transaction.
 */
export const ETCD_DEFAULT_MAX_TXN_OPS = 128;
export const ETCD_DEFAULT_MAX_REQUEST_BYTES = 1.5 * 1024 * 1024;
export const EMBEDDED_MAX_TXN_OPS = 10_000;
export const EMBEDDED_MAX_REQUEST_BYTES = 10 * 1024 * 1024;
/**
 * Task records written per transaction, in bytes, at most (one record alone may be more): below
 * etcd's default request limit with room for compares and events. A record carries its
 * service's template (at most 512 KiB, docs/api.md), so a batch of them is cut by size too.
 */
export const TASK_TXN_BYTES = 1024 * 1024;
/** Leader batches (status, later scheduling) stay within every etcd's default. */
export const LEADER_BATCH_OPS = 127;

/**
 * Task changes per transaction, for an etcd that allows `maxTxnOps` operations: each change may
 * bring up to two events (and a compare), so a third of the limit — at most TASK_BATCH_MAX, which
 * keeps a transaction of task records (a few KiB each, with their templates) far below the
 * embedded etcd's request size and its commit latency short. 42 on an etcd with the defaults.
 */
export const TASK_BATCH_MAX = 250;
export function taskBatchFor(maxTxnOps: number): number {
  return Math.max(1, Math.min(TASK_BATCH_MAX, Math.floor((maxTxnOps - 1) / 3)));
}

export function tooLargeApplyMessage(services: number, bytes: number): string {
  return (
    `applying ${services} service(s) (${bytes} bytes) does not fit in one etcd transaction: ` +
    `etcd allows ${ETCD_DEFAULT_MAX_TXN_OPS} operations and ${ETCD_DEFAULT_MAX_REQUEST_BYTES} bytes per ` +
    `transaction by default (berth's embedded etcd: ${EMBEDDED_MAX_TXN_OPS} operations, ` +
    `${EMBEDDED_MAX_REQUEST_BYTES} bytes; raise --max-txn-ops/--max-request-bytes on an external etcd), ` +
    `so nothing was applied; split the manifest`
  );
}

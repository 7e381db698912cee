/**
 * etcd's transaction limits. The distribution's defaults are small; berth's embedded etcd raises
 * them so a 4 MiB manifest of many services is one transaction.
 */
export const ETCD_DEFAULT_MAX_TXN_OPS = 128;
export const ETCD_DEFAULT_MAX_REQUEST_BYTES = 1.5 * 1024 * 1024;
export const EMBEDDED_MAX_TXN_OPS = 10_000;
export const EMBEDDED_MAX_REQUEST_BYTES = 10 * 1024 * 1024;
/** Leader batches (status, later scheduling) stay within every etcd's default. */
export const LEADER_BATCH_OPS = 127;

export function tooLargeApplyMessage(services: number, bytes: number): string {
  return (
    `applying ${services} service(s) (${bytes} bytes) does not fit in one etcd transaction: ` +
    `etcd allows ${ETCD_DEFAULT_MAX_TXN_OPS} operations and ${ETCD_DEFAULT_MAX_REQUEST_BYTES} bytes per ` +
    `transaction by default (berth's embedded etcd: ${EMBEDDED_MAX_TXN_OPS} operations, ` +
    `${EMBEDDED_MAX_REQUEST_BYTES} bytes; raise --max-txn-ops/--max-request-bytes on an external etcd), ` +
    `so nothing was applied; split the manifest`
  );
}

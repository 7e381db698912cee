export * from './store';
export { createEtcdClient, DEFAULT_CALL_TIMEOUT_MS, type EtcdClientOptions, type EtcdTls } from './etcd-client';
export { EtcdStore } from './etcd-store';
export { EtcdInformer, type InformerOptions } from './informer';
export { LeaderElection, type Leadership, type LeaderElectionOptions } from './leader-election';
export { EtcdIdentityStore, type ClusterIdentityStore, type IssuedCertificate, type NodeCertificateRecord, type StoredToken } from './identity-store';
export { ControlPlaneMembers, type ControlPlaneMember } from './members';
export { EmbeddedEtcd, EtcdBinaryNotFoundError, type EmbeddedEtcdOptions } from './embedded-etcd';
export { keyspace, serviceOfTask, DEFAULT_PREFIX, type Keyspace } from './keys';
export { encodeVersioned } from './codecs';
export {
  EMBEDDED_MAX_REQUEST_BYTES,
  EMBEDDED_MAX_TXN_OPS,
  ETCD_DEFAULT_MAX_REQUEST_BYTES,
  ETCD_DEFAULT_MAX_TXN_OPS,
  LEADER_BATCH_OPS,
  TASK_BATCH_MAX,
  taskBatchFor,
} from './limits';
export type { Etcd3 } from 'etcd3';
export {
  applyReport,
  assignTask,
  latestReports,
  markUnschedulable,
  newTaskId,
  newTaskRecord,
  orphanTask,
  shutdownTask,
  type TaskMutation,
} from './task-writes';
export { withLiveness, type NodeLiveness } from './node-records';
export { sameSpecButReplicas } from './records';

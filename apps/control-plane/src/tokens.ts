/**
 * Nest injection tokens for the ports the composition root hands to feature modules. The store is
 * handed out by role (libs/store/src/store.ts), one token each, all bound to the one store: a
 * provider injects only the roles it uses, so who may write what shows in its constructor.
 */
export const STORE_READS = Symbol('berth.store.reads');
/** API: apply, delete, scale, rollout undo/restart/pause/resume. */
export const SERVICE_WRITES = Symbol('berth.store.service-writes');
/** API: the operator's node writes. */
export const NODE_ADMIN = Symbol('berth.store.node-admin');
/** Leader: the orchestrator's task plans, rollout records and rollbacks. */
export const ORCHESTRATOR_WRITES = Symbol('berth.store.orchestrator-writes');
/** Leader: statuses, node verdicts, the event log's bound. */
export const LEADER_WRITES = Symbol('berth.store.leader-writes');
/** Leader: for the scheduler loop alone (the only writer of nodeName). */
export const SCHEDULER_WRITES = Symbol('berth.store.scheduler-writes');
/** Dispatcher: node registration, sessions, task status reports. */
export const NODE_SESSIONS = Symbol('berth.store.node-sessions');
export const METRICS = Symbol('berth.metrics');
/** The control-plane replicas announced now (service discovery). */
export const MEMBERS = Symbol('berth.members');
export const ELECTOR = Symbol('berth.elector');
export const DISPATCHER_OPTIONS = Symbol('berth.dispatcher-options');
export const NODE_GRACE = Symbol('berth.node-grace');
export const IMAGE_RESOLVER = Symbol('berth.image-resolver');
/** The cluster CA, the serving certificate and the identity store (identity/identity.ts IdentityDeps). */
export const IDENTITY = Symbol('berth.identity');

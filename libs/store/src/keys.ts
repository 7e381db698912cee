/**
 * The etcd key layout, in one place. Every key lives under a prefix (default `/berth/v1/`);
 * collection prefixes end with "/" so that `tasks/web/` never matches `tasks/web2/…`.
 */
export const DEFAULT_PREFIX = '/berth/v1/';

export interface Keyspace {
  readonly prefix: string;
  readonly services: string;
  readonly statuses: string;
  readonly tasks: string;
  readonly nodes: string;
  readonly leader: string;
  service(name: string): string;
  status(name: string): string;
  /** Prefix of one service's tasks, or of all tasks when `service` is omitted. */
  tasksOf(service?: string): string;
  task(id: string): string;
  node(name: string): string;
  alive(name: string): string;
  /** Prefix of the leader's node liveness records (`status/nodes/<name>`). */
  readonly nodeStatuses: string;
  nodeStatus(name: string): string;
  /** Prefix of the orchestrator's rollout records (`status/rollouts/<name>`). */
  readonly rollouts: string;
  rollout(name: string): string;
  /** Prefix of one service's revision history. */
  historyOf(service: string): string;
  /** `history/<service>/<revision>`, the revision zero-padded so keys sort by it. */
  revision(service: string, revision: number): string;
  /** Prefix of the event log (`events/<13-digit ms>-<random>-<index>`). */
  readonly events: string;
  /** Prefix of the control-plane replicas' announcements (`members/<id>`, on each one's lease). */
  readonly members: string;
  member(id: string): string;
  /** The cluster CA's certificate (PEM; its key is never in etcd). */
  readonly caCertificate: string;
  /** Prefix of the tokens (`tokens/<id>`: role and secret hash, on a lease when they expire). */
  readonly tokens: string;
  token(id: string): string;
  /** The certificates issued to a node and not yet expired (`pki/nodes/<name>`): its session needs one of them. */
  nodeCertificates(name: string): string;
}

/** Task ids are `<service>.<slot>.<suffix>` and service names hold no dots. */
export function serviceOfTask(id: string): string {
  const dot = id.indexOf('.');
  return dot < 0 ? id : id.slice(0, dot);
}

export function keyspace(prefix: string = DEFAULT_PREFIX): Keyspace {
  const root = prefix.endsWith('/') ? prefix : `${prefix}/`;
  const services = `${root}services/`;
  const statuses = `${root}status/services/`;
  const tasks = `${root}tasks/`;
  const nodes = `${root}nodes/`;
  return {
    prefix: root,
    services,
    statuses,
    tasks,
    nodes,
    leader: `${root}leader`,
    service: (name) => services + name,
    status: (name) => statuses + name,
    tasksOf: (service) => (service === undefined ? tasks : `${tasks}${service}/`),
    task: (id) => `${tasks}${serviceOfTask(id)}/${id}`,
    node: (name) => nodes + name,
    alive: (name) => `${root}alive/${name}`,
    nodeStatuses: `${root}status/nodes/`,
    nodeStatus: (name) => `${root}status/nodes/${name}`,
    rollouts: `${root}status/rollouts/`,
    rollout: (name) => `${root}status/rollouts/${name}`,
    historyOf: (service) => `${root}history/${service}/`,
    revision: (service, revision) => `${root}history/${service}/${String(revision).padStart(10, '0')}`,
    events: `${root}events/`,
    members: `${root}members/`,
    member: (id) => `${root}members/${encodeURIComponent(id)}`,
    caCertificate: `${root}pki/ca`,
    tokens: `${root}tokens/`,
    token: (id) => `${root}tokens/${id}`,
    nodeCertificates: (name) => `${root}pki/nodes/${name}`,
  };
}

/** The last path segment of a key: the object's name (or task id) within its collection. */
export function nameOf(key: string): string {
  return key.slice(key.lastIndexOf('/') + 1);
}

/** The exclusive end of a prefix range, as etcd's `range_end` expects it. */
export function prefixEnd(prefix: string): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i] = end[i]! + 1;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}

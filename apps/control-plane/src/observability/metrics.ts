import { ROLLOUT_STATES, TASK_STATES, type NodeInfo, type Rollout, type Task } from '@berth/core';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { BERTH_VERSION } from '../version';

const NODE_STATES = ['ready', 'down', 'unknown'] as const;

/** What the leader's cache holds, read at each scrape (never an etcd read per scrape). */
export interface ClusterSnapshot {
  readonly tasks: readonly Task[];
  readonly nodes: readonly NodeInfo[];
  /** Each service's stored rollout record, by service name. */
  readonly rollouts: ReadonlyMap<string, Rollout>;
}

/**
 * The control plane's Prometheus metrics, on a registry of its own (two control planes in one
 * process — as in tests — must not share series). Names and labels are the contract in
 * docs/metrics.md.
 */
export class ControlPlaneMetrics {
  readonly registry = new Registry();
  private readonly requestDuration: Histogram<'route' | 'code'>;
  private readonly leader: Gauge;
  private readonly desired: Gauge<'service'>;
  private readonly running: Gauge<'service'>;
  private readonly reconcileDuration: Histogram<'loop'>;
  private readonly tasks: Gauge<'state'>;
  private readonly nodes: Gauge<'status'>;
  private readonly placements: Counter<'result'>;
  private readonly pending: Gauge;
  private readonly sessions: Gauge;
  private readonly nodeInfo: Gauge<'node' | 'address' | 'version'>;
  private readonly rolloutState: Gauge<'service' | 'state'>;
  private readonly restarts: Counter<'service'>;
  private readonly nodesDown: Counter;
  private readonly failoverDuration: Histogram;
  /** Where the cluster series come from at a scrape, while the leader's scheduler runs. */
  private clusterSource: (() => ClusterSnapshot) | undefined;

  constructor() {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    // Gauges named like counters fail `promtool check metrics`; nodejs_active_*{type} hold the same counts.
    for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) this.registry.removeSingleMetric(name);
    this.requestDuration = new Histogram({
      name: 'berth_api_request_duration_seconds',
      help: 'Time to answer an API request, by route pattern and HTTP status code.',
      labelNames: ['route', 'code'],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    });
    this.leader = new Gauge({ name: 'berth_leader', help: '1 while this control plane is the leader, else 0.', registers });
    this.leader.set(0);
    this.desired = new Gauge({
      name: 'berth_service_replicas_desired',
      help: 'Tasks a service should run (replicas, or eligible nodes for global services). Leader only.',
      labelNames: ['service'],
      registers,
    });
    this.running = new Gauge({
      name: 'berth_service_replicas_running',
      help: 'Tasks of a service observed running (and healthy, when it has a health check). Leader only.',
      labelNames: ['service'],
      registers,
    });
    this.reconcileDuration = new Histogram({
      name: 'berth_reconcile_duration_seconds',
      help: 'Time one reconcile of one key took, by loop.',
      labelNames: ['loop'],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    });
    // Both counted at scrape time (collect), from the leader's cache; the nodes gauge is collected after this one.
    this.tasks = new Gauge({ name: 'berth_tasks', help: 'Task records by observed state. Leader only.', labelNames: ['state'], registers, collect: () => this.collectClusterCounts() });
    this.nodes = new Gauge({ name: 'berth_nodes', help: 'Nodes by status (ready, down, unknown). Leader only.', labelNames: ['status'], registers });
    this.placements = new Counter({
      name: 'berth_scheduler_placements_total',
      help: 'Scheduling decisions: result="placed" per task assigned, result="unschedulable" per task that fit no node in a pass.',
      labelNames: ['result'],
      registers,
    });
    this.pending = new Gauge({ name: 'berth_scheduler_pending_tasks', help: 'Tasks waiting for a node after the last scheduling pass. Leader only.', registers });
    this.sessions = new Gauge({ name: 'berth_agent_sessions', help: 'Agent sessions this replica holds.', registers });
    this.sessions.set(0);
    const build = new Gauge({ name: 'berth_build_info', help: "1, labelled with this control plane's version and the Node.js version it runs on.", labelNames: ['version', 'node_version'], registers });
    build.set({ version: BERTH_VERSION, node_version: process.versions.node }, 1);
    // Collected after berth_tasks (which refreshes every cluster series from the same snapshot).
    this.nodeInfo = new Gauge({ name: 'berth_node_info', help: "1 per node, labelled with its address and its agent's version. Leader only.", labelNames: ['node', 'address', 'version'], registers });
    this.rolloutState = new Gauge({
      name: 'berth_rollout_state',
      help: "1 for the state of each service's current rollout (updating, paused, rolling-back, rolled-back, completed), 0 for the others. Leader only.",
      labelNames: ['service', 'state'],
      registers,
    });
    this.restarts = new Counter({ name: 'berth_task_restarts_total', help: 'Tasks the restart policy replaced after they ended, by service. Leader only.', labelNames: ['service'], registers });
    this.nodesDown = new Counter({ name: 'berth_node_down_total', help: 'Nodes the leader declared down (their agent lease ran out).', registers });
    this.failoverDuration = new Histogram({
      name: 'berth_failover_duration_seconds',
      help: 'From a node declared down to a replacement of each of its replicated tasks being up (running, healthy when checked).',
      buckets: [1, 2, 5, 10, 15, 20, 30, 45, 60, 90, 120, 300, 600],
      registers,
    });
  }

  /**
   * While set (by the leader's scheduler), berth_tasks and berth_nodes are counted from `source`
   * at each scrape; undefined stops that (the gauges keep what was last counted until reset).
   */
  countClusterFrom(source: (() => ClusterSnapshot) | undefined): void {
    this.clusterSource = source;
  }

  private collectClusterCounts(): void {
    const cluster = this.clusterSource?.();
    if (!cluster) return;
    this.setClusterCounts(cluster.tasks, cluster.nodes);
    // Rebuilt whole: a node or service that is gone leaves no series behind.
    this.nodeInfo.reset();
    for (const n of cluster.nodes) this.nodeInfo.set({ node: n.name, address: n.address, version: n.agentVersion ?? 'unknown' }, 1);
    this.rolloutState.reset();
    for (const [service, rollout] of cluster.rollouts) {
      for (const state of ROLLOUT_STATES) this.rolloutState.set({ service, state }, rollout.state === state ? 1 : 0);
    }
  }

  /** Counts tasks per state and nodes per status (every state listed, zeros included). */
  setClusterCounts(tasks: readonly Task[], nodes: readonly NodeInfo[]): void {
    // One walk over the tasks: the scheduler calls this on every pass, with every task.
    const byState = new Map<string, number>();
    for (const t of tasks) byState.set(t.status.state, (byState.get(t.status.state) ?? 0) + 1);
    for (const state of TASK_STATES) this.tasks.set({ state }, byState.get(state) ?? 0);
    for (const status of NODE_STATES) this.nodes.set({ status }, nodes.filter((n) => n.state === status).length);
  }

  countPlacements(placed: number, unschedulable: number): void {
    if (placed > 0) this.placements.inc({ result: 'placed' }, placed);
    if (unschedulable > 0) this.placements.inc({ result: 'unschedulable' }, unschedulable);
  }

  countRestarts(service: string, n: number): void {
    if (n > 0) this.restarts.inc({ service }, n);
  }

  countNodesDown(n: number): void {
    if (n > 0) this.nodesDown.inc(n);
  }

  observeFailover(seconds: number): void {
    this.failoverDuration.observe(seconds);
  }

  setPendingTasks(n: number): void {
    this.pending.set(n);
  }

  setAgentSessions(n: number): void {
    this.sessions.set(n);
  }

  observeRequest(route: string, code: number, seconds: number): void {
    this.requestDuration.observe({ route, code: String(code) }, seconds);
  }

  setLeader(isLeader: boolean): void {
    this.leader.set(isLeader ? 1 : 0);
  }

  setReplicas(service: string, desired: number, running: number): void {
    this.desired.set({ service }, desired);
    this.running.set({ service }, running);
    // Exported at 0 from the start: increase() over a series that first appears at 1 would miss that restart.
    this.restarts.inc({ service }, 0);
  }

  forgetService(service: string): void {
    this.desired.remove({ service });
    this.running.remove({ service });
    this.restarts.remove({ service });
  }

  /** Drops every per-service series (on losing leadership: a follower does not report them). */
  forgetServices(): void {
    this.desired.reset();
    this.running.reset();
    this.tasks.reset();
    this.nodes.reset();
    this.pending.reset();
    this.nodeInfo.reset();
    this.rolloutState.reset();
  }

  observeReconcile(loop: string, seconds: number): void {
    this.reconcileDuration.observe({ loop }, seconds);
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }
}

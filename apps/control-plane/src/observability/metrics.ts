import { TASK_STATES, type NodeInfo, type Task } from '@berth/core';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

const NODE_STATES = ['ready', 'down', 'unknown'] as const;

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

  constructor() {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
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
    this.tasks = new Gauge({ name: 'berth_tasks', help: 'Task records by observed state. Leader only.', labelNames: ['state'], registers });
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
  }

  /** Counts tasks per state and nodes per status (every state listed, zeros included). */
  setClusterCounts(tasks: readonly Task[], nodes: readonly NodeInfo[]): void {
    for (const state of TASK_STATES) this.tasks.set({ state }, tasks.filter((t) => t.status.state === state).length);
    for (const status of NODE_STATES) this.nodes.set({ status }, nodes.filter((n) => n.state === status).length);
  }

  countPlacements(placed: number, unschedulable: number): void {
    if (placed > 0) this.placements.inc({ result: 'placed' }, placed);
    if (unschedulable > 0) this.placements.inc({ result: 'unschedulable' }, unschedulable);
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
  }

  forgetService(service: string): void {
    this.desired.remove({ service });
    this.running.remove({ service });
  }

  /** Drops every per-service series (on losing leadership: a follower does not report them). */
  forgetServices(): void {
    this.desired.reset();
    this.running.reset();
    this.tasks.reset();
    this.nodes.reset();
    this.pending.reset();
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

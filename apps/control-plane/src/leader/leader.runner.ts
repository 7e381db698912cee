import { type BeforeApplicationShutdown, Inject, Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import { runLoops, runWithSources, sleep } from '@berth/reconcile';
import type { LeaderWrites, OrchestratorWrites, SchedulerWrites, StoreReads } from '@berth/store';
import type { ControlPlaneMetrics } from '../observability/metrics';
import { EventLogLoop } from '../events/event-log.loop';
import { FailoverWatch } from '../nodes/failover-watch';
import { NodeLivenessLoop } from '../nodes/node-liveness.loop';
import { OrchestratorLoop } from '../orchestrator/orchestrator.loop';
import { SchedulerLoop } from '../scheduling/scheduler.loop';
import { StatusLoop } from '../status/status.loop';
import { ELECTOR, LEADER_WRITES, METRICS, NODE_GRACE, ORCHESTRATOR_WRITES, SCHEDULER_WRITES, STORE_READS } from '../tokens';
import { ClusterCache } from './cluster-cache';
import type { Elector, Lead } from './elector';

/** Pause before campaigning again after the election itself failed (etcd unreachable…). */
const CAMPAIGN_RETRY_MS = 1000;
/** Pause before restarting the leader loops after one failed while still leading. */
const LOOPS_RETRY_MS = 1000;

/**
 * Campaigns for leadership from application start until shutdown and, while leader, runs the
 * leader-only loops. Losing the term aborts them (lead.signal); shutdown aborts and awaits all.
 */
@Injectable()
export class LeaderRunner implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly log = new Logger('leader');
  private readonly stop = new AbortController();
  private running: Promise<void> | undefined;

  constructor(
    @Inject(ELECTOR) private readonly elector: Elector,
    @Inject(STORE_READS) private readonly reads: StoreReads,
    @Inject(ORCHESTRATOR_WRITES) private readonly orchestratorWrites: OrchestratorWrites,
    @Inject(LEADER_WRITES) private readonly leaderWrites: LeaderWrites,
    // Held only to hand to the scheduler loop, the one writer of nodeName.
    @Inject(SCHEDULER_WRITES) private readonly schedulerWrites: SchedulerWrites,
    @Inject(METRICS) private readonly metrics: ControlPlaneMetrics,
    @Inject(NODE_GRACE) private readonly graceMs: number,
  ) {}

  onApplicationBootstrap(): void {
    this.running = this.campaign(this.stop.signal);
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.stop.abort();
    await this.running;
  }

  /** Never rejects: election failures are logged and retried until shutdown. */
  private async campaign(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      try {
        await this.elector.runAsLeader(signal, (lead) => this.lead(lead));
      } catch (e) {
        this.log.warn(`election failed: ${e instanceof Error ? e.message : String(e)}`);
      }
      await sleep(CAMPAIGN_RETRY_MS, signal);
    }
  }

  private async lead(lead: Lead): Promise<void> {
    this.log.log(`${lead.id} is the leader`);
    this.metrics.setLeader(true);
    try {
      while (!lead.signal.aborted) {
        try {
          await this.runTerm(lead);
        } catch (e) {
          this.log.error(`leader loops stopped: ${e instanceof Error ? e.message : String(e)}`);
          await sleep(LOOPS_RETRY_MS, lead.signal);
        }
      }
    } finally {
      this.metrics.setLeader(false);
      this.metrics.forgetServices();
      this.log.log(`${lead.id} stepped down`);
    }
  }

  /**
   * One term's loops around one cluster cache: built fresh for the term, so no cache, watermark
   * or node verdict of a previous term survives into this one. Each term starts its own node
   * grace: the previous leader's view of the nodes is not ours. Each loop gets the store roles
   * it writes with, no more.
   */
  private async runTerm(lead: Lead): Promise<void> {
    const cluster = new ClusterCache(this.reads, { fence: lead.fence, graceMs: this.graceMs });
    const loops = [
      new NodeLivenessLoop(this.leaderWrites, lead.fence, cluster, { onDown: (n) => this.metrics.countNodesDown(n) }),
      new FailoverWatch(cluster, (seconds) => this.metrics.observeFailover(seconds)),
      new EventLogLoop(this.leaderWrites, lead.fence, cluster),
      new StatusLoop(this.reads, this.leaderWrites, lead.fence, cluster, this.metrics),
      new OrchestratorLoop(this.orchestratorWrites, lead.fence, cluster, this.metrics),
      new SchedulerLoop(this.schedulerWrites, lead.fence, cluster, this.metrics),
    ];
    await runWithSources({ 'cluster cache': cluster }, { name: 'leader loops', run: (s) => runLoops(loops, s) }, lead.signal);
  }
}

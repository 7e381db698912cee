import type { Etcd3, Lease } from 'etcd3';
import { settleWithin, sleep } from './abortable';
import { getKey, ifAbsent, ifCreateRevision, deleteOp, putOp, txn } from './kv';
import { keyspace } from './keys';
import type { LeaderFence } from './store';

/** What a leader gets for its term. */
export interface Leadership {
  readonly id: string;
  /** Compare this in every leader write (EtcdStore's fenced methods do). */
  readonly fence: LeaderFence;
  /** Aborts as soon as this process may no longer be the leader. */
  readonly signal: AbortSignal;
}

export interface LeaderElectionOptions {
  /** This candidate's identity, stored as the leader key's value (shown by `currentLeader`). */
  readonly id: string;
  /** Lease TTL; default 10 s. */
  readonly ttlSeconds?: number;
  readonly prefix?: string;
  readonly log?: (line: string) => void;
}

/** Pause between terms and after failed campaign attempts. */
const RETRY_MS = 1_000;

/**
 * Leader election on one key (`<prefix>leader`) bound to a lease: whoever creates the key leads
 * until the lease ends. Fencing is by the key's create_revision (a new term always has a new
 * one), never by "I think I lead".
 *
 * etcd3 reports a lease lost only after 2×TTL, so the term also ends on our own deadline: the send
 * time of the last acknowledged keepalive + TTL − margin. The server's lease cannot expire before
 * that, so a deposed leader stops before its successor can start.
 */
export class LeaderElection {
  private readonly key: string;
  private readonly ttlSeconds: number;

  constructor(
    private readonly client: Etcd3,
    private readonly opts: LeaderElectionOptions,
  ) {
    this.key = keyspace(opts.prefix).leader;
    this.ttlSeconds = opts.ttlSeconds ?? 10;
  }

  /** The current leader's id, or undefined when nobody leads. */
  async currentLeader(): Promise<string | undefined> {
    return (await getKey(this.client, this.key))?.value.toString();
  }

  /**
   * Campaigns until `signal` aborts; while leading calls onLead (whose lead.signal aborts on loss),
   * then campaigns again. Resolves when `signal` aborts (resigning if leading). Errors from onLead
   * end the term; they are logged, not thrown.
   */
  async runAsLeader(signal: AbortSignal, onLead: (lead: Leadership) => Promise<void>): Promise<void> {
    while (!signal.aborted) {
      try {
        await this.term(signal, onLead);
      } catch (e) {
        this.opts.log?.(`leader election (${this.opts.id}): ${e instanceof Error ? e.message : String(e)}`);
      }
      await sleep(RETRY_MS, signal);
    }
  }

  /** One lease: campaign with it, lead while it lasts, then give it up. */
  private async term(signal: AbortSignal, onLead: (lead: Leadership) => Promise<void>): Promise<void> {
    const requestedAt = Date.now();
    const lease = this.client.lease(this.ttlSeconds);
    const lost = new AbortController();
    lease.on('lost', () => lost.abort());
    const clock = trackDeadline(lease, this.ttlSeconds, requestedAt);
    try {
      const leaseId = await lease.grant();
      const fence = await this.acquire(leaseId, signal, lost.signal);
      if (!fence) return;
      this.opts.log?.(`${this.opts.id} leads (fence ${fence.createRevision})`);
      const stop = watchTerm(signal, lost, clock, this.ttlSeconds);
      const unwatch = this.abortWhenKeyGoes(fence, lost);
      try {
        await onLead({ id: this.opts.id, fence, signal: lost.signal });
      } finally {
        stop();
        await unwatch();
        lost.abort();
        await this.resign(fence);
      }
    } finally {
      clock.dispose();
      await lease.revoke().catch(() => undefined);
    }
  }

  /** Creates the leader key when vacant; waits for a vacancy otherwise. Undefined when aborted. */
  private async acquire(leaseId: string, signal: AbortSignal, lost: AbortSignal): Promise<LeaderFence | undefined> {
    while (!signal.aborted && !lost.aborted) {
      const res = await txn(this.client, 'campaign', {
        compare: [ifAbsent(this.key)],
        success: [putOp(this.key, this.opts.id, leaseId)],
        failure: [{ request_range: { key: Buffer.from(this.key) } }],
      });
      if (res.succeeded) return { leaderKey: this.key, createRevision: res.header.revision };
      const holder = res.responses[0]?.response_range.kvs[0];
      if (holder) await this.waitForVacancy(holder.mod_revision, signal);
    }
    return undefined;
  }

  /** Resolves when the leader key is deleted, after one TTL at most (then we look again), or on abort. */
  private waitForVacancy(modRevision: string, signal: AbortSignal): Promise<void> {
    const watcher = this.client.watch().key(this.key).startRevision(String(BigInt(modRevision) + 1n)).watcher();
    return new Promise<void>((resolve) => {
      const finish = (cancelled: boolean) => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        // A watch etcd cancelled is already gone from the client; cancelling it again would wait forever.
        if (cancelled) resolve();
        else void settleWithin(watcher.cancel(), 2_000).then(resolve);
      };
      const done = () => finish(false);
      const timer = setTimeout(done, this.ttlSeconds * 1000);
      watcher.on('delete', done);
      watcher.on('error', () => finish(true));
      watcher.on('disconnected', () => undefined);
      signal.addEventListener('abort', done, { once: true });
    });
  }

  /**
   * Ends the term early when our leader key is deleted (lease revoked or expired server-side, or
   * removed by an operator). Only an early warning: fencing is what keeps writes safe.
   */
  private abortWhenKeyGoes(fence: LeaderFence, lost: AbortController): () => Promise<void> {
    const watcher = this.client.watch().key(this.key).startRevision(String(BigInt(fence.createRevision) + 1n)).watcher();
    let cancelled = false;
    watcher.on('delete', () => lost.abort());
    watcher.on('error', () => (cancelled = true));
    watcher.on('disconnected', () => undefined);
    return () => (cancelled ? Promise.resolve() : settleWithin(watcher.cancel(), 2_000));
  }

  /** Deletes the leader key if it is still ours (revoking the lease alone would also do it). */
  private async resign(fence: LeaderFence): Promise<void> {
    await txn(this.client, 'resign', { compare: [ifCreateRevision(this.key, fence.createRevision)], success: [deleteOp(this.key)] }).catch(
      () => undefined,
    );
  }
}

interface DeadlineClock {
  /** Epoch ms until which the server-side lease is certainly alive. */
  aliveUntil(): number;
  dispose(): void;
}

/**
 * Follows keepalives: each acknowledged one proves the lease alive until its send time + TTL.
 * Answers arrive in send order on one stream, so a FIFO of send times pairs them up; a new stream
 * starts a new FIFO.
 */
function trackDeadline(lease: Lease, ttlSeconds: number, grantedFrom: number): DeadlineClock {
  let sent: number[] = [];
  let confirmedAt = grantedFrom;
  const onFired = () => sent.push(Date.now());
  const onSucceeded = () => (confirmedAt = Math.max(confirmedAt, sent.shift() ?? confirmedAt));
  const onStream = () => (sent = []);
  lease.on('keepaliveFired', onFired);
  lease.on('keepaliveSucceeded', onSucceeded);
  lease.on('keepaliveEstablished', onStream);
  return {
    aliveUntil: () => confirmedAt + ttlSeconds * 1000,
    dispose: () => {
      lease.off('keepaliveFired', onFired);
      lease.off('keepaliveSucceeded', onSucceeded);
      lease.off('keepaliveEstablished', onStream);
    },
  };
}

/** Ends the term (aborts `lost`) when the caller stops or our own deadline passes. */
function watchTerm(signal: AbortSignal, lost: AbortController, clock: DeadlineClock, ttlSeconds: number): () => void {
  const marginMs = Math.max(500, (ttlSeconds * 1000) / 5);
  const end = () => lost.abort();
  signal.addEventListener('abort', end, { once: true });
  const timer = setInterval(() => {
    if (Date.now() >= clock.aliveUntil() - marginMs) lost.abort();
  }, 250);
  return () => {
    clearInterval(timer);
    signal.removeEventListener('abort', end);
  };
}

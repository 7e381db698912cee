/**
 * The agent's side of fencing: how long since the node's lease was last known renewed, on the
 * agent's own monotonic clock. A renewal is dated by when the agent *sent* the heartbeat (or
 * Hello) it answers, never when the answer arrived, so the agent's deadline always comes before
 * the lease's expiry at etcd, whatever the network delay.
 */
export class FenceClock {
  private renewedAt: number;
  /** Set while cut off, so each cut-off episode is reported once. */
  private reported = false;

  /** `now` at construction counts as a renewal: a fresh agent gets one node-down time to connect. */
  constructor(
    private readonly now: () => number,
    private downAfterMs: number,
  ) {
    this.renewedAt = now();
  }

  /** The control plane's node-down time, from Welcome. */
  setDownAfter(ms: number): void {
    if (ms > 0) this.downAfterMs = ms;
  }

  get downAfter(): number {
    return this.downAfterMs;
  }

  /** The lease was renewed for what the agent sent at `sentAt`. Older news changes nothing. */
  renewed(sentAt: number): void {
    if (sentAt <= this.renewedAt) return;
    this.renewedAt = sentAt;
    this.reported = false;
  }

  /** True once per cut-off episode: when the node-down time has passed since the last renewal. */
  cutOffNow(): boolean {
    if (this.reported || this.now() - this.renewedAt < this.downAfterMs) return false;
    this.reported = true;
    return true;
  }
}

import type { LeaderFence } from '@berth/store';

/** One term of leadership. `signal` aborts when the term ends (lost lease, resign, shutdown). */
export interface Lead {
  readonly id: string;
  readonly fence: LeaderFence;
  readonly signal: AbortSignal;
}

/**
 * The leader-election port (`LeaderElection` from @berth/store implements it).
 * `runAsLeader` campaigns until `signal` aborts; each time this replica wins it calls `onLead`
 * and ends the term when `onLead` returns or the lease is lost.
 */
export interface Elector {
  runAsLeader(signal: AbortSignal, onLead: (lead: Lead) => Promise<void>): Promise<void>;
  currentLeader(): Promise<string | undefined>;
}

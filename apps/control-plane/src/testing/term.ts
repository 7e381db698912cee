import { type Loop, runLoops, runWithSources } from '@berth/reconcile';
import type { LeaderFence, StoreReads } from '@berth/store';
import { ClusterCache } from '../leader/cluster-cache';

/** Runs leader loops as one term does (LeaderRunner.runTerm): one cluster cache shared by all. */
export function runTerm(
  store: StoreReads,
  opts: { readonly fence: LeaderFence; readonly graceMs?: number; readonly now?: () => number },
  loops: (cluster: ClusterCache) => Loop[],
  signal: AbortSignal,
): Promise<void> {
  const cluster = new ClusterCache(store, { fence: opts.fence, graceMs: opts.graceMs ?? 0, ...(opts.now ? { now: opts.now } : {}) });
  return runWithSources({ 'cluster cache': cluster }, { name: 'leader loops', run: (s) => runLoops(loops(cluster), s) }, signal);
}

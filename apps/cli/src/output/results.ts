import type { RolloutView } from '@berth/api';
import type { ApplyItem, DiffItem } from '../client/http-client';
import type { WaitOutcome, WaitResult } from './rollout';

/** `service/web created`, one line per applied service; ` (dry run)` when nothing was written. */
export function formatApplyItems(items: readonly Pick<ApplyItem, 'name' | 'action'>[], dryRun: boolean): string[] {
  return items.map((i) => `service/${i.name} ${i.action}${dryRun ? ' (dry run)' : ''}`);
}

/**
 * The server's diffs, one block per service that would change, each under a `--- NAME (live)` /
 * `+++ NAME (manifest)` header. Empty when nothing differs.
 */
export function formatDiffs(items: readonly DiffItem[]): string {
  return items
    .filter((i) => i.diff.trim().length > 0)
    .map((i) => [`--- ${i.name} (live)`, `+++ ${i.name} (manifest)`, ...bodyLines(i.diff)].join('\n'))
    .join('\n');
}

/** Drops the file header the server may already have put in, so the header appears once. */
function bodyLines(diff: string): string[] {
  const lines = diff.replace(/\n$/, '').split('\n');
  const hasHeader = lines[0]?.startsWith('--- ') && lines[1]?.startsWith('+++ ');
  return hasHeader ? lines.slice(2) : lines;
}

export function hasDifferences(items: readonly DiffItem[]): boolean {
  return items.some((i) => i.diff.trim().length > 0);
}

/** One service of `apply --wait -o json`: what the write did and how its rollout ended. */
export interface WaitedItem {
  readonly name: string;
  readonly action: ApplyItem['action'];
  /** The revision the write made (a rollback shows as a later one in `rollout`). */
  readonly revision: number;
  /** The leader's rollout record as last seen; null before it wrote one. */
  readonly rollout: RolloutView | null;
  readonly result: WaitResult;
}

/** `apply --wait -o json`: `{ items: [{ name, action, revision, rollout, result }] }`, in apply order. */
export function waitedItems(items: readonly ApplyItem[], outcomes: readonly WaitOutcome[]): { items: WaitedItem[] } {
  return {
    items: items.flatMap((item) => {
      const outcome = outcomes.find((o) => o.target.service === item.name);
      if (!outcome) return [];
      const rollout = outcome.service.status.rollout ?? null;
      return [{ name: item.name, action: item.action, revision: item.service.metadata.revision, rollout, result: outcome.result }];
    }),
  };
}

/**
 * `rollout status -o json`: the service's rollout record (`status.rollout`, its fields at the top)
 * with the service name and how the wait ended.
 */
export function rolloutResult(outcome: WaitOutcome): { name: string; result: WaitResult } & Partial<RolloutView> {
  const s = outcome.service;
  return { name: s.metadata.name, ...s.status.rollout, result: outcome.result };
}

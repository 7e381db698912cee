import type { ApplyItem, DiffItem } from '../client/http-client';

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

import type { NodeTopView, TaskTopView, TopErrorView } from '@berth/api';
import { formatCpu } from '@berth/core';
import { renderTable } from './table';

/** Home the cursor and clear the screen: a `-w` frame on a terminal replaces the one before. */
const CLEAR_SCREEN = '\x1b[H\x1b[2J';

const KiB = 1024;
const MiB = 1024 ** 2;
const GiB = 1024 ** 3;

/** `berth top nodes`: usage summed over each node's tasks, then what they reserve and what the node has. */
export function renderNodeTop(items: readonly NodeTopView[]): string {
  const headers = ['node', 'cpu%', 'memory', 'alloc-cpu', 'alloc-memory', 'capacity-cpu', 'capacity-memory', 'tasks'];
  const rows = items.map((n) => [
    n.node,
    formatPercent(n.cpuPercent),
    formatBytes(n.memoryBytes),
    formatCores(n.allocated.cpuCores),
    formatBytes(n.allocated.memoryBytes),
    formatCores(n.capacity.cpuCores),
    formatBytes(n.capacity.memoryBytes),
    String(n.tasks),
  ]);
  return renderTable(headers, rows);
}

/** `berth top tasks`: each task's usage and its limits (`-` where unlimited or not measured yet). */
export function renderTaskTop(items: readonly TaskTopView[]): string {
  const headers = ['name', 'cpu%', 'memory', 'mem%-of-limit', 'cpu-limit', 'mem-limit', 'node'];
  const rows = items.map((t) => [
    t.task,
    formatPercent(t.cpuPercent),
    formatBytes(t.memoryBytes),
    t.memoryLimitBytes === null ? '-' : formatPercent((t.memoryBytes / t.memoryLimitBytes) * 100),
    t.cpuLimitCores === null ? '-' : formatCores(t.cpuLimitCores),
    t.memoryLimitBytes === null ? '-' : formatBytes(t.memoryLimitBytes),
    t.node,
  ]);
  return renderTable(headers, rows);
}

/** One stderr line per node the control plane could not read. */
export function topWarnings(errors: readonly TopErrorView[]): string[] {
  return errors.map((e) => `warning: node ${e.node}: ${e.message}`);
}

/**
 * Percent of one core (or of a limit): one decimal under 10 (`0.4%`), whole above (`37%`); `-`
 * without a figure (a task that started between the two samples).
 */
export function formatPercent(percent: number | null): string {
  if (percent === null) return '-';
  return percent < 10 ? `${(Math.round(percent * 10) / 10).toFixed(1)}%` : `${Math.round(percent)}%`;
}

/** Cores as in specs: `2`, `1500m`. */
export function formatCores(cores: number): string {
  return formatCpu(Math.round(cores * 1000));
}

/** Bytes rounded to a binary unit, kubectl top style: `12Mi`, `1.5Gi`, `512Ki`. */
export function formatBytes(bytes: number): string {
  if (bytes >= GiB) return `${Number((bytes / GiB).toFixed(1))}Gi`;
  if (bytes >= MiB) return `${Math.round(bytes / MiB)}Mi`;
  if (bytes >= KiB) return `${Math.round(bytes / KiB)}Ki`;
  return String(Math.round(bytes));
}

/**
 * `-w` output, one frame per refresh. On a terminal each frame clears the screen first, so the
 * table stays in place; elsewhere (a file, a pipe) frames follow each other, a blank line apart.
 * Pure: it returns text and writes nothing.
 */
export class TopFrames {
  private shown = 0;

  constructor(private readonly tty: boolean) {}

  next(table: string): string {
    const first = this.shown++ === 0;
    if (this.tty) return CLEAR_SCREEN + table;
    return first ? table : `\n${table}`;
  }
}

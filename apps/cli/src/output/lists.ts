import type { NodeView, ServiceView, TaskView } from '@berth/api';
import { isTerminal, templateSource } from '@berth/core';
import { formatAge } from './age';
import { cell, renderTable } from './table';

/** Table layouts of `berth get`: the normal columns, then the extra ones `-o wide` adds. */
export interface ListLayout<T> {
  readonly headers: readonly string[];
  readonly wideHeaders: readonly string[];
  row(item: T, now: Date): string[];
  wideRow(item: T): string[];
}

export const serviceLayout: ListLayout<ServiceView> = {
  headers: ['name', 'mode', 'replicas', 'image', 'age'],
  wideHeaders: ['generation', 'resource-version', 'ports', 'runtime'],
  row: (s, now) => [
    s.metadata.name,
    s.spec.mode,
    `${s.status.running}/${s.status.desired}`,
    templateSource(s.spec.template),
    formatAge(s.metadata.createdAt, now),
  ],
  wideRow: (s) => [
    String(s.metadata.generation),
    s.metadata.resourceVersion,
    cell(s.spec.template.ports.map(formatPort).join(',')),
    s.spec.template.runtime,
  ],
};

/** `18080:8080/tcp` when published on the node, `8080/tcp` otherwise (docker ps style). */
export function formatPort(p: { containerPort: number; hostPort?: number; protocol: string }): string {
  return `${p.hostPort === undefined ? '' : `${p.hostPort}:`}${p.containerPort}/${p.protocol}`;
}

export const taskLayout: ListLayout<TaskView> = {
  headers: ['name', 'service', 'slot', 'state', 'node', 'age'],
  wideHeaders: ['health', 'pid', 'ip', 'exit', 'message'],
  row: (t, now) => [
    t.metadata.name,
    t.metadata.service,
    String(t.metadata.slot),
    taskState(t),
    // A global service's task not placed yet: the one node it is for, in parentheses.
    cell(t.status.node ?? t.spec.node ?? (t.spec.targetNode === undefined ? undefined : `(${t.spec.targetNode})`)),
    formatAge(t.metadata.createdAt, now),
  ],
  // health is `-` for a task without a health check.
  wideRow: (t) => [cell(t.status.health), cell(t.status.pid), cell(t.status.ip), cell(t.status.exitCode), cell(t.status.message)],
};

/** The observed state, plus where it is heading when that differs ("running → shutdown"). */
function taskState(t: TaskView): string {
  return t.spec.desiredState === 'shutdown' && !isTerminal(t.status.state) ? `${t.status.state} → shutdown` : t.status.state;
}

export const nodeLayout: ListLayout<NodeView> = {
  headers: ['name', 'state', 'availability', 'address', 'cpu', 'memory'],
  wideHeaders: ['tasks', 'alloc-cpu', 'alloc-memory', 'drivers', 'labels'],
  row: (n, now) => [
    n.metadata.name,
    nodeState(n, now),
    n.spec.availability,
    cell(n.status.address),
    cell(n.status.capacity.cpu),
    cell(n.status.capacity.memory),
  ],
  wideRow: (n) => [
    String(n.status.tasks),
    n.status.allocated.cpu,
    n.status.allocated.memory,
    cell(formatDrivers(n)),
    cell(formatLabels(n.metadata.labels)),
  ],
};

/** `runc, qemu (tcg)`: each driver with what it reports about itself. */
export function formatDrivers(n: NodeView): string {
  return n.status.drivers.map((d) => (n.status.driverDetails?.[d] ? `${d} (${n.status.driverDetails[d]})` : d)).join(', ');
}

/** `down (12s)` for a down node: how long it has been down. */
function nodeState(n: NodeView, now: Date): string {
  return n.status.state === 'down' && n.status.downSince ? `down (${formatAge(n.status.downSince, now)})` : n.status.state;
}

/** `k=v,k2=v2`, sorted by key. */
export function formatLabels(labels: Readonly<Record<string, string>>): string {
  return Object.keys(labels)
    .sort()
    .map((k) => `${k}=${labels[k]}`)
    .join(',');
}

/** Renders items with a layout; `wide` appends the wide columns. */
export function renderList<T>(layout: ListLayout<T>, items: readonly T[], opts: { wide: boolean; now: Date }): string {
  const headers = opts.wide ? [...layout.headers, ...layout.wideHeaders] : layout.headers;
  const rows = items.map((item) => {
    const row = layout.row(item, opts.now);
    return opts.wide ? [...row, ...layout.wideRow(item)] : row;
  });
  return renderTable(headers, rows);
}

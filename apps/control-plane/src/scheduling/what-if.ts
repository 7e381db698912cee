import { isTerminal, type NodeInfo, type Service } from '@berth/core';
import type { PlanView, TaskMoveView } from '@berth/api';
import { schedule } from '@berth/scheduler';
import type { TaskRecord } from '@berth/store';
import { schedulingInput } from './snapshot';

export interface WhatIfInput {
  readonly tasks: readonly TaskRecord[];
  readonly services: (name: string) => Service | undefined;
  readonly nodes: readonly NodeInfo[];
  /** The nodes imagined gone (every one of them exists in `nodes`). */
  readonly without: readonly string[];
  /** Epoch ms; rejections age against it as in the scheduler. */
  readonly now: number;
}

/**
 * `berth plan --without`: what the loss of some nodes would do to the tasks that live on them,
 * worked out by the same pure scheduler the leader runs, against the current state. Pure; the
 * cluster is not touched.
 *
 * Every live task of a replicated service on a lost node is imagined pending again (its own
 * template and placement), alongside the tasks that are pending already; tasks elsewhere keep
 * holding their nodes. A global service's task ends with its node: it has nowhere else to go.
 */
export function planWithout(input: WhatIfInput): PlanView {
  const gone = new Set(input.without);
  const moves: TaskMoveView[] = [];
  const displaced = new Set<string>();
  const simulated: TaskRecord[] = [];
  for (const t of input.tasks) {
    const onLostNode = t.nodeName !== undefined && gone.has(t.nodeName);
    if (!onLostNode) {
      simulated.push(t);
      continue;
    }
    if (t.desiredState !== 'running' || isTerminal(t.status.state)) continue; // frees its node, and matters no more
    const service = input.services(t.service);
    if (!service) continue; // a deleted service's task is on its way out
    const from = t.nodeName!;
    if (service.spec.mode === 'global') {
      moves.push({ task: t.id, service: t.service, slot: t.slot, from, outcome: 'stops', reason: `a global task runs on ${from} only` });
      continue;
    }
    displaced.add(t.id);
    const { nodeName: _lost, ...rest } = t;
    simulated.push({ ...rest, status: { state: 'pending', updatedAt: t.status.updatedAt } });
  }
  const nodes = input.nodes.filter((n) => !gone.has(n.name));
  const result = schedule(schedulingInput(simulated, input.services, nodes, { now: input.now }));
  const fromOf = new Map(input.tasks.filter((t) => displaced.has(t.id)).map((t) => [t.id, t]));
  for (const p of result.placements) {
    const t = fromOf.get(p.taskId);
    if (t) moves.push({ task: t.id, service: t.service, slot: t.slot, from: t.nodeName!, outcome: 'moves', to: p.node });
  }
  for (const u of result.unschedulable) {
    const t = fromOf.get(u.taskId);
    if (t) moves.push({ task: t.id, service: t.service, slot: t.slot, from: t.nodeName!, outcome: 'unschedulable', reason: u.explanation });
  }
  moves.sort((a, b) => a.service.localeCompare(b.service) || a.slot - b.slot || a.task.localeCompare(b.task));
  return { without: [...input.without], fits: moves.every((m) => m.outcome !== 'unschedulable'), tasks: moves };
}

import { isTaskUp, isTerminal, type NodeInfo, type Placement, type Rollout, type Service, type Task, type TaskTemplate } from '@berth/core';
import { eligibleNodes, taskSpec } from '@berth/scheduler';
import { restartDecision } from './restart';
import { planRollout, sameRollout } from './rollout';
import { isActive, neverAssigned, newest, unschedulable } from './task-facts';

/** A task as the planner sees it: with the template and placement it was created from, when stored. */
export type PlannedTask = Task & { readonly template?: TaskTemplate; readonly fenced?: boolean; readonly placement?: Placement };

/**
 * After a fenced task's node is declared down, how long beyond the task's stop grace the
 * replacement waits: the agent, cut off for the node-down time, has stopped the task by then.
 */
export const FENCING_MARGIN_MS = 2_000;

/** A task the orchestrator wants created (state `pending`, desired `running`). */
export interface NewTask {
  readonly slot: number;
  readonly specGeneration: number;
  /**
   * Global services: the node the task is for (Task.targetNode). The scheduler still places it,
   * there or nowhere; it alone writes nodeName.
   */
  readonly targetNode?: string;
  /** The task of a down or draining node this one takes over from (Task.replaces). */
  readonly replaces?: string;
}

/** What the orchestrator writes for one service; applied in one transaction. */
export interface ServicePlan {
  readonly create: readonly NewTask[];
  /** Task ids whose desiredState becomes `shutdown`. */
  readonly shutdown: readonly string[];
  /** Task records to delete: finished history beyond the bound, or tasks of a deleted service. */
  readonly remove: readonly string[];
  /** Set when a restart waits for its backoff: plan this service again after this many ms. */
  readonly requeueAfterMs?: number;
  /** The rollout record to store, when it changed (planRollout). */
  readonly rollout?: Rollout;
  /** The failure action is rollback: restore this revision instead of writing the rest. */
  readonly rollback?: { readonly toRevision: number; readonly rollout: Rollout };
}

export interface PlanInput {
  /** undefined when the service was deleted. */
  readonly service: Service | undefined;
  /** Every task record of the service, terminal ones included. */
  readonly tasks: readonly PlannedTask[];
  readonly nodes: readonly NodeInfo[];
  /** Epoch ms; restarts back off against it. */
  readonly now: number;
  /** Finished tasks kept per slot for `berth get tasks` and `berth why` (default 5). */
  readonly historyPerSlot?: number;
  /** The stored rollout record of the service. */
  readonly rollout?: Rollout;
}

/**
 * Level-triggered and pure: from the service and every task it has, decide what to create,
 * stop and forget. Each slot has at most one *active* task (desiredState running); a restart is a
 * new task in the same slot, so task states only move forward and history stays truthful.
 */
export function planService(input: PlanInput): ServicePlan {
  const { service, tasks } = input;
  if (!service) return planDeleted(tasks, input.nodes);
  const slots = groupBySlot(tasks);
  const wanted = wantedSlots(service, input.nodes, slots);
  const where = placementOf(input.nodes);
  const plan = new PlanBuilder();
  for (const [slot, slotTasks] of slots) {
    if (!wanted.has(slot)) plan.retireActive(slotTasks);
  }
  const moves = new MoveBudget(service.spec.update.parallelism, tasks, where);
  const moving = new Set<number>();
  for (const [slot, target] of wanted) {
    const slotTasks = slots.get(slot) ?? [];
    const ctx = { service, slot, target, tasks: slotTasks, now: input.now };
    if (target === undefined && slotTasks.some((t) => isActive(t) && (t.replaces !== undefined || where(t).kind !== 'ok'))) {
      moving.add(slot);
      planMoves(plan, ctx, where, moves);
    } else {
      planSlot(plan, ctx, where);
    }
  }
  const rollout = planRollout({ service, slots, wanted, moving, stored: input.rollout, now: input.now });
  if (rollout.rollback) {
    // Nothing else is written: the restored revision is planned afresh once the leader sees it.
    return { create: [], shutdown: [], remove: [], rollback: { toRevision: rollout.rollback.toRevision, rollout: rollout.rollout } };
  }
  for (const t of rollout.retire) plan.retire(t);
  for (const { slot, retire } of rollout.start) {
    if (retire) plan.retire(retire);
    const target = wanted.get(slot);
    plan.create.push({ slot, specGeneration: service.meta.generation, ...(target ? { targetNode: target } : {}) });
  }
  if (rollout.requeueAfterMs !== undefined) plan.requeueAfter(rollout.requeueAfterMs);
  for (const slotTasks of slots.values()) plan.trimHistory(slotTasks, input.historyPerSlot ?? 5);
  plan.forgetUnreported(tasks, input.nodes);
  return { ...plan.build(), ...(sameRollout(input.rollout, rollout.rollout) ? {} : { rollout: rollout.rollout }) };
}

function planDeleted(tasks: readonly PlannedTask[], nodes: readonly NodeInfo[]): ServicePlan {
  const onNodes = tasks.filter((t) => !isTerminal(t.status.state) && !neverAssigned(t) && !onRemovedNode(t, nodes));
  return {
    create: [],
    shutdown: onNodes.filter((t) => t.desiredState === 'running').map((t) => t.id),
    // Records go once nothing runs any more, so `berth get tasks` shows the stop happening.
    // Tasks no node ever got hold nothing anywhere: they go at once.
    remove: onNodes.length === 0 ? tasks.map((t) => t.id) : tasks.filter((t) => neverAssigned(t) || onRemovedNode(t, nodes)).map((t) => t.id),
  };
}

/**
 * A task whose node the operator removed (`berth node rm`): no agent will report on it again —
 * one that connects under the name later is a new node, and forgets (stops) every task it is not
 * given.
 */
function onRemovedNode(t: Task, nodes: readonly NodeInfo[]): boolean {
  return t.nodeName !== undefined && !nodes.some((n) => n.name === t.nodeName);
}

/**
 * Where a task is, as far as moving it goes. `lost`: its node is down, or was removed (`berth node
 * rm`: no record, so no `node`).
 */
type Whereabouts = { readonly kind: 'ok' } | { readonly kind: 'draining' } | { readonly kind: 'unknown' } | { readonly kind: 'lost'; readonly node?: NodeInfo };

function placementOf(nodes: readonly NodeInfo[]): (t: Task) => Whereabouts {
  const byName = new Map(nodes.map((n) => [n.name, n]));
  return (t) => {
    if (t.nodeName === undefined) return { kind: 'ok' };
    const node = byName.get(t.nodeName);
    if (node === undefined || node.state === 'down') return { kind: 'lost', ...(node ? { node } : {}) };
    // Not heard from since this leader took over: neither replaced nor kept over a replacement yet.
    if (node.state === 'unknown') return { kind: 'unknown' };
    if (node.availability === 'drain') return { kind: 'draining' };
    return { kind: 'ok' };
  };
}

/**
 * How many tasks of draining nodes may be on their way elsewhere at once: `update.parallelism`
 * (0 = all), less the replacements that are not up yet. A replacement no node fits (pending, with
 * the scheduler's explanation) is not on its way: it does not hold up the others. Failover does
 * not wait for the budget.
 */
class MoveBudget {
  private left: number;
  constructor(parallelism: number, tasks: readonly PlannedTask[], where: (t: Task) => Whereabouts) {
    const byId = new Map(tasks.map((t) => [t.id, t]));
    const inFlight = tasks.filter((t) => {
      const original = t.replaces === undefined ? undefined : byId.get(t.replaces);
      return isActive(t) && !isTaskUp(t) && !unschedulable(t) && original !== undefined && isActive(original) && where(original).kind === 'draining';
    }).length;
    this.left = parallelism === 0 ? Infinity : parallelism - inFlight;
  }
  take(): boolean {
    if (this.left <= 0) return false;
    this.left--;
    return true;
  }
}

/**
 * A replicated slot whose task is on a down or draining node, or that has a replacement under
 * way. The slot keeps exactly one of each pair:
 * - the original's node is back (or no longer draining): the original stays (same id, same
 *   process) and the replacement goes;
 * - the original drains: once the replacement is up, the original stops (start-first, so the
 *   service never runs fewer);
 * - the original's node is down: the replacement is created at once (no restart backoff — a node
 *   loss is not a crash; for `fencing` only once the cut-off agent has surely stopped it), and
 *   the scheduler orphans the original when it places the replacement.
 */
function planMoves(plan: PlanBuilder, s: SlotContext, where: (t: Task) => Whereabouts, moves: MoveBudget): void {
  const active = s.tasks.filter(isActive);
  const byId = new Map(active.map((t) => [t.id, t]));
  const replaced = new Set<string>();
  for (const r of active) {
    const original = r.replaces === undefined ? undefined : byId.get(r.replaces);
    if (!original) continue;
    replaced.add(original.id);
    const w = where(original).kind;
    if (w === 'ok') plan.retire(r);
    else if (w === 'draining' && isTaskUp(r)) plan.retire(original);
  }
  for (const t of active) {
    if (replaced.has(t.id) || (t.replaces !== undefined && byId.has(t.replaces))) continue;
    const w = where(t);
    if (w.kind === 'lost') replaceLost(plan, s, t, w.node);
    else if (w.kind === 'draining' && moves.take()) plan.create.push({ slot: s.slot, specGeneration: s.service.meta.generation, replaces: t.id });
  }
}

/**
 * A task of a removed node is replaced at once, fenced or not: the operator said the node is gone
 * (`node rm` refuses a ready node unless forced), and no record is left to time a wait from.
 */
function replaceLost(plan: PlanBuilder, s: SlotContext, t: PlannedTask, node: NodeInfo | undefined): void {
  if (t.fenced && node) {
    const downAt = Date.parse(node.downSince ?? '');
    const safeAt = (Number.isNaN(downAt) ? s.now : downAt) + (t.template?.stopGracePeriodMs ?? 0) + FENCING_MARGIN_MS;
    if (safeAt > s.now) return plan.requeueAfter(safeAt - s.now);
  }
  plan.create.push({ slot: s.slot, specGeneration: s.service.meta.generation, replaces: t.id });
}

/**
 * Slot → target node (global) or undefined (replicated). A global service wants one slot on every
 * node that passes the scheduler's node-level filters for its spec (eligibleNodes: ready, active,
 * serves the runtime, meets the constraints), so a node that joins or becomes eligible gets one,
 * and one drained, relabelled out of the constraints or removed loses it (its task is retired).
 * A node that is not ready (down, unknown) keeps the slot it has: its task is left alone, there is
 * nowhere else it could run. Global slots are numbered per node.
 */
function wantedSlots(service: Service, nodes: readonly NodeInfo[], slots: ReadonlyMap<number, PlannedTask[]>): Map<number, string | undefined> {
  const wanted = new Map<number, string | undefined>();
  if (service.spec.mode === 'replicated') {
    for (let slot = 1; slot <= service.spec.replicas; slot++) wanted.set(slot, undefined);
    return wanted;
  }
  // Keep each node's existing slot number, give new nodes the next free numbers.
  const slotOfNode = new Map<string, number>();
  for (const [slot, ts] of slots) {
    const node = nodeOfSlot(ts);
    if (node) slotOfNode.set(node, slot);
  }
  let next = Math.max(0, ...slots.keys()) + 1;
  const spec = taskSpec(service.spec.template, service.spec.placement);
  const eligible = eligibleNodes(spec, nodes, (n) => slotOfNode.has(n)).map((n) => n.name).sort();
  for (const node of eligible) wanted.set(slotOfNode.get(node) ?? next++, node);
  return wanted;
}

/** The node a global slot is for: its newest task's target, or node for tasks created before targets. */
function nodeOfSlot(tasks: readonly PlannedTask[]): string | undefined {
  const byAge = [...tasks].sort((a, b) => b.createdAt.localeCompare(a.createdAt) || b.id.localeCompare(a.id));
  return byAge.map((t) => t.targetNode ?? t.nodeName).find((n) => n !== undefined);
}

interface SlotContext {
  readonly service: Service;
  readonly slot: number;
  /** The node a global slot is for; undefined for replicated slots. */
  readonly target: string | undefined;
  readonly tasks: readonly PlannedTask[];
  readonly now: number;
}

function planSlot(plan: PlanBuilder, s: SlotContext, where: (t: Task) => Whereabouts): void {
  const active = s.tasks.filter((t) => t.desiredState === 'running');
  if (active.some((t) => !isTerminal(t.status.state))) return; // something runs or is on its way
  // A global task's node is down: a new task there could not start, and nowhere else will do.
  if (s.target !== undefined && s.tasks.some((t) => t.nodeName === s.target && where(t).kind === 'lost')) return;
  const latest = newest(s.tasks);
  if (!latest) {
    plan.create.push(newTask(s));
    return;
  }
  const decision = restartDecision(s.service, s.tasks, latest, s.now);
  if (decision.kind === 'never') {
    plan.shutdown.push(...active.map((t) => t.id)); // record that we gave up on it
    return;
  }
  if (decision.kind === 'later') {
    plan.requeueAfter(decision.afterMs);
    return;
  }
  plan.shutdown.push(...active.map((t) => t.id));
  plan.create.push(newTask(s));
}

function newTask(s: SlotContext): NewTask {
  return { slot: s.slot, specGeneration: s.service.meta.generation, ...(s.target ? { targetNode: s.target } : {}) };
}

class PlanBuilder {
  readonly create: NewTask[] = [];
  readonly shutdown: string[] = [];
  readonly remove: string[] = [];
  private requeueMs: number | undefined;

  /** Stops a live task on its node, or forgets one no node ever got. */
  retire(task: Task): void {
    if (neverAssigned(task)) this.remove.push(task.id);
    else this.shutdown.push(task.id);
  }

  retireActive(tasks: readonly Task[]): void {
    for (const t of tasks) if (t.desiredState === 'running') this.retire(t);
  }

  requeueAfter(ms: number): void {
    this.requeueMs = this.requeueMs === undefined ? ms : Math.min(this.requeueMs, ms);
  }

  /**
   * Forgets the tasks of removed nodes that are being stopped (retired global tasks, tasks of a
   * service scaled down): nothing will ever report their end, so their records would stay live.
   * Replicated tasks there were orphaned when their replacements were placed; those stay as history.
   */
  forgetUnreported(tasks: readonly Task[], nodes: readonly NodeInfo[]): void {
    for (const t of tasks) if (t.desiredState === 'shutdown' && !isTerminal(t.status.state) && onRemovedNode(t, nodes)) this.remove.push(t.id);
  }

  /** Keeps the newest `keep` finished tasks of a slot; never touches a live one. */
  trimHistory(tasks: readonly Task[], keep: number): void {
    const finished = tasks.filter((t) => isTerminal(t.status.state) && t.desiredState === 'shutdown');
    const byAge = [...finished].sort((a, b) => b.createdAt.localeCompare(a.createdAt) || b.id.localeCompare(a.id));
    this.remove.push(...byAge.slice(keep).map((t) => t.id));
  }

  build(): ServicePlan {
    return {
      create: this.create,
      shutdown: [...new Set(this.shutdown)],
      remove: [...new Set(this.remove)],
      ...(this.requeueMs !== undefined ? { requeueAfterMs: this.requeueMs } : {}),
    };
  }
}

function groupBySlot(tasks: readonly PlannedTask[]): Map<number, PlannedTask[]> {
  const slots = new Map<number, PlannedTask[]>();
  for (const t of tasks) slots.set(t.slot, [...(slots.get(t.slot) ?? []), t]);
  return slots;
}

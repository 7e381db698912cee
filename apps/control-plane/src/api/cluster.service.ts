import { Inject, Injectable } from '@nestjs/common';
import { isTerminal, NotFoundError, type NodeAvailability, type NodeInfo } from '@berth/core';
import { toNodeView, toTaskView, type NodeUsage, type NodeView, type PlanView, type TaskView } from '@berth/api';
import type { NodeAdmin, StoreReads, TaskRecord } from '@berth/store';
import { NODE_ADMIN, STORE_READS } from '../tokens';
import { planWithout } from '../scheduling/what-if';
import type { LabelChange } from './request-body';

/**
 * Views of tasks and nodes (their writers are the leader's loops and the dispatcher), and the
 * operator's node writes: availability, labels, removal. A node's state is the store's: ready while connected,
 * down once the leader declared it, unknown in between.
 */
@Injectable()
export class ClusterService {
  constructor(
    @Inject(STORE_READS) private readonly reads: StoreReads,
    @Inject(NODE_ADMIN) private readonly admin: NodeAdmin,
  ) {}

  async tasks(service?: string): Promise<TaskView[]> {
    const [tasks, nodes] = await Promise.all([this.reads.listTasks(service), this.reads.listNodes()]);
    const byName = new Map(nodes.map((n) => [n.name, n]));
    return tasks.map((t) => toTaskView(t, t.nodeName === undefined ? undefined : byName.get(t.nodeName)));
  }

  async task(id: string): Promise<TaskView> {
    const task = await this.reads.getTask(id);
    if (!task) throw new NotFoundError('task', id);
    return toTaskView(task, task.nodeName === undefined ? undefined : await this.reads.getNode(task.nodeName));
  }

  async nodes(): Promise<NodeView[]> {
    const [nodes, tasks] = await Promise.all([this.reads.listNodes(), this.reads.listTasks()]);
    return nodes.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)).map((n) => toNodeView(n, usageOf(n, tasks)));
  }

  async node(name: string): Promise<NodeView> {
    const node = await this.reads.getNode(name);
    if (!node) throw new NotFoundError('node', name);
    return toNodeView(node, usageOf(node, await this.reads.listTasks()));
  }

  async setAvailability(name: string, availability: NodeAvailability): Promise<NodeView> {
    const node = await this.admin.setNodeAvailability(name, availability);
    return toNodeView(node, usageOf(node, await this.reads.listTasks()));
  }

  /**
   * `berth plan --without`: where the live tasks of those nodes would go if they were lost now,
   * by the scheduler's own rules (planWithout). Reads only.
   */
  async planWithout(without: readonly string[]): Promise<PlanView> {
    const [nodes, tasks, services] = await Promise.all([this.reads.listNodes(), this.reads.listTasks(), this.reads.listServices()]);
    const unknown = without.filter((name) => !nodes.some((n) => n.name === name));
    if (unknown.length > 0) throw new NotFoundError('node', unknown.join(', '), 'berth get nodes lists them');
    const byName = new Map(services.map((s) => [s.meta.name, s]));
    return planWithout({ tasks, services: (name) => byName.get(name), nodes, without, now: Date.now() });
  }

  /** `berth node label`: the operator's labels, kept over what the agent reports on reconnect. */
  async setLabels(name: string, change: LabelChange): Promise<NodeView> {
    const node = await this.admin.setNodeLabels(name, change);
    return toNodeView(node, usageOf(node, await this.reads.listTasks()));
  }

  /**
   * `berth node rm`: forgets the node and returns it as it was. Refused while it is ready unless
   * forced; its tasks are then lost to the orchestrator, which replaces them elsewhere.
   */
  async remove(name: string, force: boolean): Promise<NodeView> {
    const view = await this.node(name);
    await this.admin.removeNode(name, { force });
    return view;
  }
}

/** What the node's unfinished tasks reserve: the resources of their templates, as the scheduler counts them. */
function usageOf(node: NodeInfo, tasks: readonly TaskRecord[]): NodeUsage {
  let cpuMillis = 0;
  let memoryBytes = 0;
  let count = 0;
  for (const t of tasks) {
    if (t.nodeName !== node.name || isTerminal(t.status.state)) continue;
    count++;
    cpuMillis += t.template?.resources.cpuMillis ?? 0;
    memoryBytes += t.template?.resources.memoryBytes ?? 0;
  }
  return { cpuMillis, memoryBytes, tasks: count };
}

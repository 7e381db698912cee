import { Inject, Injectable } from '@nestjs/common';
import { isTerminal, NotFoundError, type NodeAvailability, type NodeInfo } from '@berth/core';
import { toNodeView, toTaskView, type NodeUsage, type NodeView, type TaskView } from '@berth/api';
import type { Store, TaskRecord } from '@berth/store';
import { STORE } from '../tokens';

/**
 * Views of tasks and nodes (their writers are the leader's loops and the dispatcher), and the
 * operator's one node write: availability. A node's state is the store's: ready while connected,
 * down once the leader declared it, unknown in between.
 */
@Injectable()
export class ClusterService {
  constructor(@Inject(STORE) private readonly store: Store) {}

  async tasks(service?: string): Promise<TaskView[]> {
    const [tasks, nodes] = await Promise.all([this.store.listTasks(service), this.store.listNodes()]);
    const byName = new Map(nodes.map((n) => [n.name, n]));
    return tasks.map((t) => toTaskView(t, t.nodeName === undefined ? undefined : byName.get(t.nodeName)));
  }

  async task(id: string): Promise<TaskView> {
    const task = await this.store.getTask(id);
    if (!task) throw new NotFoundError('task', id);
    return toTaskView(task, task.nodeName === undefined ? undefined : await this.store.getNode(task.nodeName));
  }

  async nodes(): Promise<NodeView[]> {
    const [nodes, tasks] = await Promise.all([this.store.listNodes(), this.store.listTasks()]);
    return nodes.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)).map((n) => toNodeView(n, usageOf(n, tasks)));
  }

  async node(name: string): Promise<NodeView> {
    const node = await this.store.getNode(name);
    if (!node) throw new NotFoundError('node', name);
    return toNodeView(node, usageOf(node, await this.store.listTasks()));
  }

  async setAvailability(name: string, availability: NodeAvailability): Promise<NodeView> {
    const node = await this.store.setNodeAvailability(name, availability);
    return toNodeView(node, usageOf(node, await this.store.listTasks()));
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

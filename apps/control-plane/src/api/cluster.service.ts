import { Inject, Injectable } from '@nestjs/common';
import { NotFoundError, type NodeAvailability } from '@berth/core';
import { toNodeView, toTaskView, type NodeView, type TaskView } from '@berth/api';
import type { Store } from '@berth/store';
import { NodeGrace } from '../nodes/node-grace';
import { NODE_GRACE, STORE } from '../tokens';

/**
 * Views of tasks and nodes (their writers are the leader's loops and the dispatcher), and the
 * operator's one node write: availability. Right after this replica started, nodes that have not
 * reconnected yet read `unknown`, as the leader's loops treat them.
 */
@Injectable()
export class ClusterService {
  private readonly grace: NodeGrace;

  constructor(
    @Inject(STORE) private readonly store: Store,
    @Inject(NODE_GRACE) graceMs: number,
  ) {
    this.grace = new NodeGrace(graceMs);
  }

  async tasks(service?: string): Promise<TaskView[]> {
    const tasks = await this.store.listTasks(service);
    return tasks.map(toTaskView);
  }

  async task(id: string): Promise<TaskView> {
    const task = await this.store.getTask(id);
    if (!task) throw new NotFoundError('task', id);
    return toTaskView(task);
  }

  async nodes(): Promise<NodeView[]> {
    const nodes = await this.store.listNodes();
    return this.grace
      .viewAll(nodes)
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
      .map(toNodeView);
  }

  async node(name: string): Promise<NodeView> {
    const node = await this.store.getNode(name);
    if (!node) throw new NotFoundError('node', name);
    return toNodeView(this.grace.view(node));
  }

  async setAvailability(name: string, availability: NodeAvailability): Promise<NodeView> {
    return toNodeView(this.grace.view(await this.store.setNodeAvailability(name, availability)));
  }
}

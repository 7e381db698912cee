import { Inject, Injectable } from '@nestjs/common';
import { NotFoundError } from '@berth/core';
import { toNodeView, toTaskView, type NodeView, type TaskView } from '@berth/api';
import type { Store } from '@berth/store';
import { STORE } from '../tokens';

/** Read-only views of tasks and nodes (their writers are the leader's loops and the dispatcher). */
@Injectable()
export class ClusterService {
  constructor(@Inject(STORE) private readonly store: Store) {}

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
    return [...nodes].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)).map(toNodeView);
  }

  async node(name: string): Promise<NodeView> {
    const node = await this.store.getNode(name);
    if (!node) throw new NotFoundError('node', name);
    return toNodeView(node);
  }
}

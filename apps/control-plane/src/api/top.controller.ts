import { Controller, Get, Query } from '@nestjs/common';
import type { NodeTopView, TaskTopView, TopView } from '@berth/api';
import { readTopFilter, TopService } from './top.service';
import { Access } from '../http/access';

/** `GET /api/v1/top/nodes` and `GET /api/v1/top/tasks?service=&node=`: CPU and memory from the agents. */
@Access('viewer')
@Controller('api/v1/top')
export class TopController {
  constructor(private readonly top: TopService) {}

  @Get('nodes')
  nodes(): Promise<TopView<NodeTopView>> {
    return this.top.nodes();
  }

  @Get('tasks')
  tasks(@Query('service') service?: unknown, @Query('node') node?: unknown): Promise<TopView<TaskTopView>> {
    return this.top.tasks(readTopFilter({ service, node }));
  }
}

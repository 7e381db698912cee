import { Body, Controller, Get, Param, Put, Query } from '@nestjs/common';
import type { NodeView, TaskView } from '@berth/api';
import { ClusterService } from './cluster.service';
import { readAvailability } from './request-body';

@Controller('api/v1')
export class ClusterController {
  constructor(private readonly cluster: ClusterService) {}

  @Get('tasks')
  tasks(@Query('service') service?: string): Promise<TaskView[]> {
    return this.cluster.tasks(service || undefined);
  }

  @Get('tasks/:id')
  task(@Param('id') id: string): Promise<TaskView> {
    return this.cluster.task(id);
  }

  @Get('nodes')
  nodes(): Promise<NodeView[]> {
    return this.cluster.nodes();
  }

  @Get('nodes/:name')
  node(@Param('name') name: string): Promise<NodeView> {
    return this.cluster.node(name);
  }

  @Put('nodes/:name/availability')
  availability(@Param('name') name: string, @Body() body: unknown): Promise<NodeView> {
    return this.cluster.setAvailability(name, readAvailability(body));
  }
}

import { Body, Controller, Delete, Get, Param, Patch, Put, Query } from '@nestjs/common';
import type { NodeView, PlanView, TaskView } from '@berth/api';
import { ClusterService } from './cluster.service';
import { readAvailability, readForce, readLabelChange, readNodeList } from './request-body';
import { Access } from '../http/access';

@Access('viewer')
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

  @Access('admin')
  @Put('nodes/:name/availability')
  availability(@Param('name') name: string, @Body() body: unknown): Promise<NodeView> {
    return this.cluster.setAvailability(name, readAvailability(body));
  }

  @Get('plan')
  plan(@Query('without') without?: unknown): Promise<PlanView> {
    return this.cluster.planWithout(readNodeList(without));
  }

  @Access('admin')
  @Patch('nodes/:name/labels')
  labels(@Param('name') name: string, @Body() body: unknown): Promise<NodeView> {
    return this.cluster.setLabels(name, readLabelChange(body));
  }

  @Access('admin')
  @Delete('nodes/:name')
  remove(@Param('name') name: string, @Query('force') force?: string): Promise<NodeView> {
    return this.cluster.remove(name, readForce(force));
  }
}

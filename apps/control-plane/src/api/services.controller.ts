import type { RevisionView, ServiceView } from '@berth/api';
import { Body, Controller, Delete, Get, HttpCode, Param, Post, Put, Query, Req } from '@nestjs/common';
import { type ApplyResult, type DiffResult, ManifestsService } from './manifests.service';
import { readDryRun, readReplicas, readToRevision } from './request-body';
import { ServicesService } from './services.service';
import { Access, callerOf } from '../http/access';

@Access('viewer')
@Controller('api/v1')
export class ServicesController {
  constructor(
    private readonly services: ServicesService,
    private readonly manifests: ManifestsService,
  ) {}

  @Get('services')
  list(): Promise<ServiceView[]> {
    return this.services.list();
  }

  @Get('services/:name')
  get(@Param('name') name: string): Promise<ServiceView> {
    return this.services.get(name);
  }

  @Access('deployer')
  @Delete('services/:name')
  delete(@Param('name') name: string): Promise<ServiceView> {
    return this.services.delete(name);
  }

  @Access('deployer')
  @Put('services/:name/scale')
  scale(@Param('name') name: string, @Body() body: unknown): Promise<ServiceView> {
    return this.services.scale(name, readReplicas(body));
  }

  @Get('services/:name/revisions')
  revisions(@Param('name') name: string): Promise<{ items: RevisionView[] }> {
    return this.services.revisions(name);
  }

  @Access('deployer')
  @Post('services/:name/rollout/undo')
  @HttpCode(200)
  undo(@Param('name') name: string, @Body() body: unknown, @Req() request: unknown): Promise<ServiceView> {
    return this.services.undo(name, readToRevision(body), callerOf(request));
  }

  @Access('deployer')
  @Post('services/:name/rollout/restart')
  @HttpCode(200)
  restart(@Param('name') name: string): Promise<ServiceView> {
    return this.services.restart(name);
  }

  @Access('deployer')
  @Post('services/:name/rollout/pause')
  @HttpCode(200)
  pause(@Param('name') name: string): Promise<ServiceView> {
    return this.services.control(name, 'pause');
  }

  @Access('deployer')
  @Post('services/:name/rollout/resume')
  @HttpCode(200)
  resume(@Param('name') name: string): Promise<ServiceView> {
    return this.services.control(name, 'resume');
  }

  @Access('deployer')
  @Post('apply')
  @HttpCode(200)
  apply(@Body() body: unknown, @Req() request: unknown, @Query('dryRun') dryRun?: string): Promise<ApplyResult> {
    return this.manifests.apply(body, readDryRun(dryRun), callerOf(request));
  }

  @Post('diff')
  @HttpCode(200)
  diff(@Body() body: unknown): Promise<DiffResult> {
    return this.manifests.diff(body);
  }
}

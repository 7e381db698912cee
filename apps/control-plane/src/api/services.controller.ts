import type { ServiceView } from '@berth/api';
import { Body, Controller, Delete, Get, HttpCode, Param, Post, Put, Query } from '@nestjs/common';
import { type ApplyResult, type DiffResult, ManifestsService } from './manifests.service';
import { readDryRun, readReplicas } from './request-body';
import { ServicesService } from './services.service';

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

  @Delete('services/:name')
  delete(@Param('name') name: string): Promise<ServiceView> {
    return this.services.delete(name);
  }

  @Put('services/:name/scale')
  scale(@Param('name') name: string, @Body() body: unknown): Promise<ServiceView> {
    return this.services.scale(name, readReplicas(body));
  }

  @Post('apply')
  @HttpCode(200)
  apply(@Body() body: unknown, @Query('dryRun') dryRun?: string): Promise<ApplyResult> {
    return this.manifests.apply(body, readDryRun(dryRun));
  }

  @Post('diff')
  @HttpCode(200)
  diff(@Body() body: unknown): Promise<DiffResult> {
    return this.manifests.diff(body);
  }
}

import { Controller, Get, Header, Inject } from '@nestjs/common';
import { Registry } from 'prom-client';
import { METRICS } from '../tokens';
import type { ControlPlaneMetrics } from './metrics';
import { Access } from '../http/access';

@Access('viewer')
@Controller()
export class MetricsController {
  constructor(@Inject(METRICS) private readonly metrics: ControlPlaneMetrics) {}

  @Get('metrics')
  @Header('content-type', Registry.PROMETHEUS_CONTENT_TYPE)
  scrape(): Promise<string> {
    return this.metrics.text();
  }
}

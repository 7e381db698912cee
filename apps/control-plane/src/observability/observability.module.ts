import { type DynamicModule, Module } from '@nestjs/common';
import { HealthController } from './health.controller';
import { MetricsController } from './metrics.controller';

/** /healthz, /readyz and /metrics. */
@Module({ controllers: [HealthController, MetricsController] })
export class ObservabilityModule {
  static register(infra: DynamicModule): DynamicModule {
    return { module: ObservabilityModule, imports: [infra] };
  }
}

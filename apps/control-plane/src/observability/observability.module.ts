import { type DynamicModule, Module } from '@nestjs/common';
import { HealthController } from './health.controller';
import { MetricsController } from './metrics.controller';
import { ServiceDiscoveryController } from './sd.controller';

/** /healthz, /readyz, /metrics and /sd (Prometheus service discovery). */
@Module({ controllers: [HealthController, MetricsController, ServiceDiscoveryController] })
export class ObservabilityModule {
  static register(infra: DynamicModule): DynamicModule {
    return { module: ObservabilityModule, imports: [infra] };
  }
}

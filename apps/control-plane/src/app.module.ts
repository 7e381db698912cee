import { type DynamicModule, Module } from '@nestjs/common';
import { ApiModule } from './api/api.module';
import { DispatcherModule } from './dispatcher/dispatcher.module';
import { IdentityModule } from './identity/identity.module';
import { type AppDeps, InfraModule } from './infra.module';
import { LeaderModule } from './leader/leader.module';
import { ObservabilityModule } from './observability/observability.module';

/** Composition root: the feature modules, each importing the same infra module instance. */
@Module({})
export class AppModule {
  static create(deps: AppDeps): DynamicModule {
    const infra = InfraModule.forRoot(deps);
    const features = [ApiModule.register(infra), ObservabilityModule.register(infra)];
    if (deps.elector) features.push(LeaderModule.register(infra));
    if (deps.dispatcher && !deps.identity) throw new Error('the dispatcher needs the cluster identity (deps.identity): agents are served over mutual TLS only');
    if (deps.identity) {
      const identity = IdentityModule.register(infra);
      features.push(identity);
      if (deps.dispatcher) features.push(DispatcherModule.register(infra, identity, deps.dispatcher));
    }
    return { module: AppModule, imports: features };
  }
}

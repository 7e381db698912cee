import { type DynamicModule, Module } from '@nestjs/common';
import { ClusterController } from './cluster.controller';
import { ClusterService } from './cluster.service';
import { EventsController } from './events.controller';
import { EventsService } from './events.service';
import { ManifestsService } from './manifests.service';
import { ServicesController } from './services.controller';
import { ServicesService } from './services.service';
import { TopController } from './top.controller';
import { TopService } from './top.service';

/** REST API of docs/api.md: thin controllers over application services. */
@Module({
  controllers: [ServicesController, ClusterController, EventsController, TopController],
  providers: [ServicesService, ManifestsService, ClusterService, EventsService, TopService],
})
export class ApiModule {
  static register(infra: DynamicModule): DynamicModule {
    return { module: ApiModule, imports: [infra] };
  }
}

import { Controller, Get, Inject, Optional } from '@nestjs/common';
import type { StoreReads } from '@berth/store';
import { MEMBERS, STORE_READS } from '../tokens';
import type { MemberList } from '../infra.module';
import { discoveryTargets, type SdTargetGroup } from './service-discovery';
import { Access } from '../http/access';

/** `GET /sd`: Prometheus HTTP service discovery — the full list of targets on every request. */
@Access('viewer')
@Controller()
export class ServiceDiscoveryController {
  constructor(
    @Inject(STORE_READS) private readonly store: StoreReads,
    @Optional() @Inject(MEMBERS) private readonly members?: MemberList,
  ) {}

  @Get('sd')
  async targets(): Promise<SdTargetGroup[]> {
    const [members, nodes] = await Promise.all([this.members?.list() ?? [], this.store.listNodes()]);
    return discoveryTargets(members, nodes);
  }
}

import { Controller, Get, Header, Inject } from '@nestjs/common';
import type { StoreReads } from '@berth/store';
import { STORE_READS } from '../tokens';
import { Access } from '../http/access';

const READY_TIMEOUT_MS = 2000;

@Access('public')
@Controller()
export class HealthController {
  constructor(@Inject(STORE_READS) private readonly store: StoreReads) {}

  /** Liveness: answers while the process serves. */
  @Get('healthz')
  health(): { status: 'ok' } {
    return { status: 'ok' };
  }

  /** Readiness: etcd answers a linearizable read; otherwise the store's error → 503 problem. */
  @Get('readyz')
  @Header('cache-control', 'no-store')
  async ready(): Promise<{ status: 'ok' }> {
    await this.store.ping(READY_TIMEOUT_MS);
    return { status: 'ok' };
  }
}

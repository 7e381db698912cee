import { type DynamicModule, Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { AccessGuard } from '../http/access';
import { TokensController } from '../api/tokens.controller';
import { NodeCertificates } from './node-certificates';
import { TokenService } from './tokens.service';

/**
 * Tokens and node certificates over the cluster CA (needs `identity` in the app's deps), and the
 * guard that makes every API route check the caller's token against the role it declares.
 */
@Module({})
export class IdentityModule {
  static register(infra: DynamicModule): DynamicModule {
    return { module: IdentityModule, imports: [infra], controllers: [TokensController], providers: [TokenService, NodeCertificates, { provide: APP_GUARD, useClass: AccessGuard }], exports: [TokenService, NodeCertificates] };
  }
}

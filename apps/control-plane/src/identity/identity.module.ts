import { type DynamicModule, Module } from '@nestjs/common';
import { TokensController } from '../api/tokens.controller';
import { NodeCertificates } from './node-certificates';
import { TokenService } from './tokens.service';

/** Tokens and node certificates over the cluster CA (needs `identity` in the app's deps). */
@Module({})
export class IdentityModule {
  static register(infra: DynamicModule): DynamicModule {
    return { module: IdentityModule, imports: [infra], controllers: [TokensController], providers: [TokenService, NodeCertificates], exports: [TokenService, NodeCertificates] };
  }
}

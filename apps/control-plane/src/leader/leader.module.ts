import { type DynamicModule, Module } from '@nestjs/common';
import { LeaderRunner } from './leader.runner';

/** Leader election and the leader-only loops. */
@Module({ providers: [LeaderRunner] })
export class LeaderModule {
  static register(infra: DynamicModule): DynamicModule {
    return { module: LeaderModule, imports: [infra] };
  }
}

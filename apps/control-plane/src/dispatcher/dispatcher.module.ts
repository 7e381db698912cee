import { type DynamicModule, Module } from '@nestjs/common';
import { DISPATCHER_OPTIONS } from '../tokens';
import { Dispatcher, type DispatcherOptions } from './dispatcher';
import { TaskExecs } from './task-exec';
import { TaskLogs } from './task-logs';
import { TaskLogsController } from './task-logs.controller';

/** The agents' gRPC endpoint and what rides on its sessions (log relay, berth exec). */
@Module({})
export class DispatcherModule {
  static register(infra: DynamicModule, identity: DynamicModule, opts: DispatcherOptions): DynamicModule {
    return {
      module: DispatcherModule,
      imports: [infra, identity],
      controllers: [TaskLogsController],
      providers: [Dispatcher, TaskLogs, TaskExecs, { provide: DISPATCHER_OPTIONS, useValue: opts }],
      exports: [Dispatcher, TaskExecs],
    };
  }
}

import { Readable } from 'node:stream';
import type { ServerResponse } from 'node:http';
import { Controller, Get, Headers, Param, Query, Res } from '@nestjs/common';
import { FORWARDED_HEADER } from './peer-forward';
import { TaskLogs } from './task-logs';
import { Access } from '../http/access';

/** The part of Fastify's reply this route uses. */
interface StreamReply {
  readonly raw: ServerResponse;
  header(name: string, value: string): StreamReply;
  send(body: Readable): unknown;
}

/** `GET /api/v1/tasks/:id/logs?follow=true&tail=N[&console=true]`: the task's log (or a VM's console), relayed from its node. */
@Access('deployer')
@Controller('api/v1')
export class TaskLogsController {
  constructor(private readonly logs: TaskLogs) {}

  @Get('tasks/:id/logs')
  async stream(
    @Param('id') id: string,
    @Query('follow') follow: string | undefined,
    @Query('tail') tail: string | undefined,
    @Query('console') console: string | undefined,
    @Headers(FORWARDED_HEADER) forwardedBy: string | undefined,
    @Headers('authorization') authorization: string | undefined,
    @Res() reply: StreamReply,
  ): Promise<void> {
    const ctl = new AbortController();
    const lines = await this.logs.open(id, TaskLogs.parseQuery(follow, tail, console), ctl.signal, forwardedBy !== undefined, authorization);
    // The client going away cancels the request on the node (LogCancel); after a complete
    // response the request is already finished and the abort does nothing.
    reply.raw.on('close', () => ctl.abort());
    reply.header('content-type', 'text/plain; charset=utf-8').send(Readable.from(lines));
  }
}

import { Readable } from 'node:stream';
import type { ServerResponse } from 'node:http';
import { Controller, Get, Query, Res } from '@nestjs/common';
import { type RawEventQuery, readEventQuery } from '@berth/api';
import { EventsService } from './events.service';
import { Access } from '../http/access';

/** The part of Fastify's reply this route uses. */
interface EventsReply {
  readonly raw: ServerResponse;
  header(name: string, value: string): EventsReply;
  send(body: unknown): unknown;
}

/** `GET /api/v1/events?service=&node=&since=&after=&watch=1`: the event log, listed or followed. */
@Access('viewer')
@Controller('api/v1')
export class EventsController {
  constructor(private readonly events: EventsService) {}

  @Get('events')
  async read(@Query() raw: RawEventQuery, @Res() reply: EventsReply): Promise<void> {
    const query = readEventQuery(raw, new Date());
    if (!query.watch) {
      reply.header('content-type', 'application/json; charset=utf-8').send(await this.events.list(query));
      return;
    }
    // The client going away ends the store's watch; after shutdown ended it, the abort does nothing.
    const ctl = new AbortController();
    reply.raw.on('close', () => ctl.abort());
    reply
      .header('content-type', 'application/x-ndjson; charset=utf-8')
      .header('cache-control', 'no-cache')
      .header('x-accel-buffering', 'no') // nginx: pass each line on as it comes
      .send(Readable.from(this.events.watch(query, ctl.signal)));
  }
}

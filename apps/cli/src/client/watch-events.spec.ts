import type { ClusterEvent } from '@berth/core';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { json, StandIn } from '../__fixtures__/stand-in';
import { ApiError, UnreachableError } from '../errors';
import { BerthClient } from './http-client';

const event = (id: string): ClusterEvent => ({ id, time: '2026-03-01T12:00:00.000Z', kind: 'node', object: 'n1', node: 'n1', reason: 'Ready', message: 'ready' });

const api = new StandIn();
beforeAll(() => api.start());
afterAll(() => api.stop());
beforeEach(() => api.reset());

async function collect(client: BerthClient, idleTimeoutMs?: number): Promise<{ ids: string[]; opened: boolean; error?: unknown }> {
  const ids: string[] = [];
  let opened = false;
  const opts = { signal: new AbortController().signal, onOpen: () => (opened = true), ...(idleTimeoutMs === undefined ? {} : { idleTimeoutMs }) };
  try {
    for await (const e of client.watchEvents({ node: 'n1', after: '7.0' }, opts)) ids.push(e.id);
    return { ids, opened };
  } catch (error) {
    return { ids, opened, error };
  }
}

describe('BerthClient.watchEvents', () => {
  it('skips heartbeat lines and ends quietly when the server ends the stream', async () => {
    api.on('GET /api/v1/events?node=n1&after=7.0&watch=1', (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/x-ndjson' });
      res.write(`\n${JSON.stringify(event('8.0'))}\n\n`);
      setTimeout(() => res.end(`${JSON.stringify(event('9.0'))}\n`), 20);
    });
    expect(await collect(new BerthClient({ server: api.url }))).toEqual({ ids: ['8.0', '9.0'], opened: true });
  });

  it('takes a stream that stays silent, without even a heartbeat, for lost', async () => {
    api.on('GET /api/v1/events?node=n1&after=7.0&watch=1', (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/x-ndjson' });
      res.write(`${JSON.stringify(event('8.0'))}\n`);
    });
    const r = await collect(new BerthClient({ server: api.url }), 100);
    expect(r.ids).toEqual(['8.0']);
    expect(r.error).toBeInstanceOf(UnreachableError);
    expect((r.error as UnreachableError).reason).toBe('nothing heard for 100ms, not even a heartbeat');
  });

  it('turns a refusal into ApiError before opening', async () => {
    api.on('GET /api/v1/events?node=n1&after=7.0&watch=1', json(422, { code: 'INVALID', detail: 'after: must be an event id' }));
    const r = await collect(new BerthClient({ server: api.url }));
    expect(r.opened).toBe(false);
    expect(r.error).toBeInstanceOf(ApiError);
    expect((r.error as ApiError).code).toBe('INVALID');
  });
});

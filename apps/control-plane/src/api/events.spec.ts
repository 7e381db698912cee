import { createInterface } from 'node:readline';
import { get as httpGet, type IncomingMessage } from 'node:http';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { compareEventIds, type ClusterEvent } from '@berth/core';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createHttpApp } from '../http/http-app';
import { ControlPlaneMetrics } from '../observability/metrics';
import { InMemoryStore } from '@berth/store/testing';
import { ndjsonWithHeartbeat } from './event-stream';

const event = (id: string, over: Partial<ClusterEvent> = {}): ClusterEvent =>
  ({
    id,
    time: `2026-03-01T12:00:0${id.split('.')[0]}.000Z`,
    kind: 'service',
    object: 'web',
    service: 'web',
    reason: 'Updated',
    message: `event ${id}`,
    ...over,
  }) as ClusterEvent;

const LOG: ClusterEvent[] = [
  event('1.0', { reason: 'Created' }),
  event('2.0', { kind: 'task', object: 'web.1.a', node: 'n1', reason: 'Scheduled' }),
  event('2.1', { kind: 'node', object: 'n2', service: undefined, node: 'n2', reason: 'Ready' }),
  event('3.0', { kind: 'service', object: 'api', service: 'api', reason: 'Created' }),
];

const manifest = (image: string) => ({
  apiVersion: 'berth/v1',
  kind: 'Service',
  metadata: { name: 'web' },
  spec: { replicas: 1, template: { image } },
});

describe('GET /api/v1/events', () => {
  let store: InMemoryStore;
  let app: NestFastifyApplication;

  beforeEach(async () => {
    store = new InMemoryStore();
    store.events.push(...LOG);
    app = await createHttpApp({ store, metrics: new ControlPlaneMetrics() });
  });
  afterEach(() => app.close());

  const get = async (query: string) => app.inject({ method: 'GET', url: `/api/v1/events${query}` });
  const ids = async (query: string) => ((await get(query)).json().items as ClusterEvent[]).map((e) => e.id);

  it('lists the retained events, oldest first', async () => {
    const res = await get('');
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toContain('application/json');
    expect(res.json()).toEqual({ items: LOG });
  });

  it('filters by service, node, time and resume point', async () => {
    expect(await ids('?service=web')).toEqual(['1.0', '2.0']);
    expect(await ids('?node=n2')).toEqual(['2.1']);
    expect(await ids('?service=web&node=n1')).toEqual(['2.0']);
    expect(await ids('?since=2026-03-01T12:00:02Z')).toEqual(['2.0', '2.1', '3.0']);
    expect(await ids('?after=2.0')).toEqual(['2.1', '3.0']);
    expect(await ids('?service=nope')).toEqual([]);
  });

  it('refuses a bad duration, time or id with a problem naming the parameter and its forms', async () => {
    for (const [query, path, hint] of [
      ['?since=yesterday', 'since', 'RFC 3339'],
      ['?after=abc', 'after', 'REVISION.INDEX'],
      ['?watch=maybe', 'watch', '1 or 0'],
    ] as const) {
      const res = await get(query);
      expect(res.statusCode, query).toBe(422);
      expect(res.headers['content-type']).toContain('application/problem+json');
      expect(res.json()).toMatchObject({ code: 'INVALID', issues: [{ path, message: expect.stringContaining(hint) }] });
    }
  });

  describe('watch=1', () => {
    let url: string;
    beforeEach(async () => {
      await app.listen(0, '127.0.0.1');
      url = (await app.getUrl()).replace('[::1]', '127.0.0.1');
    });

    /** Opens a watch (plain node:http, one connection) and hands back its lines as they come. */
    async function watch(query: string, signal: AbortSignal) {
      const res = await new Promise<IncomingMessage>((resolve, reject) => httpGet(`${url}/api/v1/events?watch=1${query}`, { signal, agent: false }, resolve).on('error', reject));
      const lines = createInterface({ input: res })[Symbol.asyncIterator]();
      const next = async () => JSON.parse((await lines.next()).value as string) as ClusterEvent;
      const rest = async () => {
        const ids: string[] = [];
        for (let r = await lines.next(); !r.done; r = await lines.next()) ids.push((JSON.parse(r.value) as ClusterEvent).id);
        return ids;
      };
      return { res, next, rest };
    }

    it('sends the retained events after the id, then each new one as it is written, until the client goes away', async () => {
      store.events.length = 0; // only what the writes below record
      const signals: AbortSignal[] = [];
      const watchEvents = store.watchEvents.bind(store);
      vi.spyOn(store, 'watchEvents').mockImplementation((after, signal) => (signals.push(signal), watchEvents(after, signal)));
      const post = (path: string, payload: object) => app.inject({ method: 'POST', url: `/api/v1${path}`, payload });
      await post('/apply', { items: [manifest('127.0.0.1:5000/busybox:1')] });
      await post('/apply', { items: [manifest('127.0.0.1:5000/busybox:2')] });
      await post('/services/web/rollout/undo', { toRevision: 1 });
      await post('/services/web/rollout/undo', { toRevision: 2 });
      const [first, second] = store.events;

      const client = new AbortController();
      const { res, next } = await watch(`&service=web&after=${first!.id}`, client.signal);
      expect(res.headers['content-type']).toBe('application/x-ndjson; charset=utf-8');
      expect(await next()).toEqual(second);

      expect((await post('/services/web/rollout/undo', { toRevision: 1 })).statusCode).toBe(200);
      const third = await next();
      expect(third).toMatchObject({ kind: 'service', object: 'web', reason: 'Undone' });
      expect(compareEventIds(third.id, second!.id)).toBe(1);

      client.abort();
      await vi.waitFor(() => expect(signals[0]?.aborted).toBe(true));
    });

    it('ends open watches when the server shuts down, so it does not wait for them', async () => {
      const { next, rest } = await watch('', new AbortController().signal);
      expect((await next()).id).toBe('1.0');
      await app.close();
      expect(await rest()).toEqual(['2.0', '2.1', '3.0']); // then the end of the stream
    });
  });
});

describe('ndjsonWithHeartbeat', () => {
  it('writes a blank line while idle, then the event, one JSON object per line', async () => {
    async function* slow() {
      await new Promise((resolve) => setTimeout(resolve, 60));
      yield LOG[0]!;
    }
    const lines: string[] = [];
    for await (const line of ndjsonWithHeartbeat(slow(), 20)) lines.push(line);
    expect(lines.length).toBeGreaterThanOrEqual(2);
    expect(lines.slice(0, -1).every((l) => l === '\n')).toBe(true);
    expect(JSON.parse(lines.at(-1)!)).toEqual(LOG[0]);
    expect(lines.at(-1)!.endsWith('}\n')).toBe(true);
  });
});

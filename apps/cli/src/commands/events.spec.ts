import type { ClusterEvent } from '@berth/core';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { berth, json, StandIn, type Handler } from '../__fixtures__/stand-in';
import type { EventsQuery, WatchEventsOptions } from '../client/http-client';
import { ApiError, UnreachableError } from '../errors';
import { followEvents, RETRY_BASE_MS, type EventSource } from './events';

const event = (id: string, reason: ClusterEvent['reason'] = 'Updated', message = `event ${id}`): ClusterEvent =>
  ({ id, time: new Date().toISOString(), kind: 'service', object: 'web', service: 'web', reason, message }) as ClusterEvent;

/** An ndjson watch answer: the events (blank heartbeat lines between them), then the connection is cut or held open. */
const ndjson =
  (events: readonly ClusterEvent[], end: 'cut' | 'hold'): Handler =>
  (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/x-ndjson' });
    res.write(events.map((e) => `${JSON.stringify(e)}\n\n`).join(''));
    if (end === 'cut') setTimeout(() => res.destroy(), 10);
  };

const api = new StandIn();
beforeAll(() => api.start());
afterAll(() => api.stop());
beforeEach(() => api.reset());

describe('berth events', () => {
  it('prints the retained events oldest first under a header', async () => {
    api.on('GET /api/v1/events', json(200, { items: [event('1.0', 'Created', 'created'), event('2.0', 'Scaled', 'scaled 3 → 5')] }));
    const r = await berth(api.url, ['events']);
    expect(r.code).toBe(0);
    expect(r.out.split('\n').map((l) => l.split(/\s{3,}/))).toEqual([
      ['TIME', 'OBJECT', 'REASON', 'MESSAGE'],
      [expect.stringMatching(/^\d\d:\d\d:\d\d$/), 'service/web', 'Created', 'created'],
      [expect.stringMatching(/^\d\d:\d\d:\d\d$/), 'service/web', 'Scaled', 'scaled 3 → 5'],
    ]);
  });

  it('passes the filters to the server, and says when nothing matched', async () => {
    api.on('GET /api/v1/events?service=web&node=n1&since=10m&after=5.0', json(200, { items: [] }));
    expect(await berth(api.url, ['events', '--service', 'web', '--node', 'n1', '--since', '10m', '--after', '5.0'])).toMatchObject({ code: 0, out: '', err: 'No events found.' });
  });

  it('prints { items } with -o json', async () => {
    const items = [event('1.0')];
    api.on('GET /api/v1/events', json(200, { items }));
    expect(JSON.parse((await berth(api.url, ['events', '-o', 'json'])).out)).toEqual({ items });
  });

  it('refuses a bad --since or --after with exit 2, naming the accepted forms', async () => {
    expect(await berth(api.url, ['events', '--since', 'yesterday'])).toMatchObject({ code: 2, err: expect.stringContaining('--since must be a duration like "30s"') });
    expect(await berth(api.url, ['events', '--after', 'x'])).toMatchObject({ code: 2, err: expect.stringContaining('--after must be an event id REVISION.INDEX') });
    expect(api.requests).toEqual([]);
  });

  it('-w prints new events as they come, one JSON object per line with -o json, until Ctrl-C (exit 0)', async () => {
    api.on('GET /api/v1/events?service=web&watch=1', ndjson([event('1.0'), event('2.0')], 'hold'));
    const ctrlC = new AbortController();
    const r = await berth(api.url, ['events', '-w', '--service', 'web', '-o', 'json'], {
      interruption: ctrlC.signal,
      onOut: (line) => {
        if (line.includes('"2.0"')) ctrlC.abort('SIGINT');
      },
    });
    expect(r).toMatchObject({ code: 0, err: '' });
    expect(r.out.split('\n').map((l) => (JSON.parse(l) as ClusterEvent).id)).toEqual(['1.0', '2.0']);
  });

  it('-w reconnects after a lost connection, resuming after the last event printed', async () => {
    api
      .on('GET /api/v1/events?service=web&since=1h&watch=1', ndjson([event('1.0'), event('2.0')], 'cut'))
      // The other replica has the same log: it sends only what came after 2.0.
      .on('GET /api/v1/events?service=web&after=2.0&watch=1', ndjson([event('3.0', 'Scaled')], 'hold'));
    const ctrlC = new AbortController();
    const r = await berth(api.url, ['events', '-w', '--service', 'web', '--since', '1h'], {
      interruption: ctrlC.signal,
      onOut: (line) => {
        if (line.includes('Scaled')) ctrlC.abort('SIGINT');
      },
    });
    expect(r.code).toBe(0);
    expect(r.out.split('\n').map((l) => l.split(/\s{3,}/)[3])).toEqual(['MESSAGE', 'event 1.0', 'event 2.0', 'event 3.0']);
    expect(r.err.split('\n')).toEqual([expect.stringMatching(/^berth: lost the event stream \(.+\); reconnecting in 500ms$/), 'berth: event stream back, resuming after 2.0']);
  });

  it('-w fails at once when the first connection is refused', async () => {
    api.on('GET /api/v1/events?watch=1', json(503, { code: 'UNAVAILABLE', detail: 'etcd did not answer' }));
    expect(await berth(api.url, ['events', '-w'])).toMatchObject({ code: 1, err: 'error: etcd did not answer' });
  });
});

/** One connection of the fake client: refused before it opens, or open, some events, then cut (or ended by the server). */
type Connection = { readonly refuse: Error } | { readonly events: ClusterEvent[]; readonly cut?: Error };

/** A client whose watches follow a script, one entry per connection; after it, the connection stays open. */
function fakeSource(script: readonly Connection[]) {
  const queries: EventsQuery[] = [];
  const source: EventSource = {
    async *watchEvents(query: EventsQuery, opts: WatchEventsOptions) {
      queries.push(query);
      const step = script[queries.length - 1];
      if (step && 'refuse' in step) throw step.refuse;
      opts.onOpen?.();
      if (!step) return void (await new Promise((resolve) => opts.signal.addEventListener('abort', resolve)));
      yield* step.events;
      if (step.cut) throw step.cut;
    },
  };
  return { source, queries };
}

describe('followEvents', () => {
  const lost = new UnreachableError('http://cp', 'ECONNRESET');

  async function follow(script: readonly Connection[], query: EventsQuery = {}) {
    const { source, queries } = fakeSource(script);
    const printed: string[] = [];
    const said: string[] = [];
    const waits: number[] = [];
    const ctrlC = new AbortController();
    const done = followEvents(source, query, {
      signal: ctrlC.signal,
      onEvent: (e) => printed.push(e.id),
      say: (line) => said.push(line),
      wait: async (ms) => void waits.push(ms),
    });
    // Once the script is used up the fake holds the last connection open: then Ctrl-C.
    await Promise.race([done, new Promise((resolve) => setTimeout(resolve, 50))]);
    ctrlC.abort();
    await done;
    return { queries, printed, said, waits };
  }

  it('resumes after the last event seen when a stream breaks midway, and prints nothing twice', async () => {
    const r = await follow(
      [
        { events: [event('4.0'), event('5.0')], cut: lost },
        { events: [event('5.0'), event('6.0')], cut: lost }, // a replica that resends 5.0
        { events: [event('7.0')] }, // ended by the server (shutdown)
      ],
      { service: 'web', since: '10m' },
    );
    expect(r.queries).toEqual([{ service: 'web', since: '10m' }, { service: 'web', after: '5.0' }, { service: 'web', after: '6.0' }, { service: 'web', after: '7.0' }]);
    expect(r.printed).toEqual(['4.0', '5.0', '6.0', '7.0']);
    expect(r.said).toEqual([
      'berth: lost the event stream (ECONNRESET); reconnecting in 500ms',
      'berth: event stream back, resuming after 5.0',
      'berth: lost the event stream (ECONNRESET); reconnecting in 500ms',
      'berth: event stream back, resuming after 6.0',
      'berth: lost the event stream (the control plane ended it); reconnecting in 500ms',
      'berth: event stream back, resuming after 7.0',
    ]);
  });

  it('backs off while the control plane stays away, and starts over once it is back', async () => {
    const down = new ApiError('UNAVAILABLE', 503, 'Unavailable', 'etcd did not answer', []);
    const r = await follow([{ events: [event('1.0')], cut: lost }, { refuse: down }, { refuse: down }, { refuse: down }, { events: [event('2.0')], cut: lost }]);
    expect(r.waits).toEqual([RETRY_BASE_MS, 2 * RETRY_BASE_MS, 4 * RETRY_BASE_MS, 8 * RETRY_BASE_MS, RETRY_BASE_MS]);
    expect(r.printed).toEqual(['1.0', '2.0']);
    expect(r.queries.slice(1).every((q) => q.after === '1.0' || q.after === '2.0')).toBe(true);
  });

  it('throws when the first connection fails, or the server refuses the query', async () => {
    await expect(follow([{ refuse: lost }])).rejects.toBe(lost);
    const invalid = new ApiError('INVALID', 422, 'Invalid request', 'after: must be an event id', []);
    await expect(follow([{ events: [event('1.0')], cut: lost }, { refuse: invalid }])).rejects.toBe(invalid);
  });
});

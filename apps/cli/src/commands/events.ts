import { setTimeout as sleep } from 'node:timers/promises';
import { Command, Option } from '@commander-js/extra-typings';
import { compareEventIds, type ClusterEvent, EVENT_LOG_MAX_AGE_MS, EVENT_LOG_MAX_COUNT, formatDuration } from '@berth/core';
import { parseAfter, parseSince } from '@berth/api';
import type { EventsQuery, WatchEventsOptions } from '../client/http-client';
import type { CliContext } from '../context';
import { ApiError, UnreachableError, UsageError } from '../errors';
import { eventHeader, eventLine } from '../output/events';
import { serialize } from '../output/serialize';

/** Reconnect delays after a lost stream: doubling from RETRY_BASE_MS, never above RETRY_MAX_MS. */
export const RETRY_BASE_MS = 500;
export const RETRY_MAX_MS = 10_000;

export function eventsCommand(ctx: CliContext) {
  return new Command('events')
    .description('print what happened in the cluster, oldest first: services applied, tasks started or failed, nodes down, rollout steps')
    .option('-w, --watch', 'after the retained events, print new ones as they happen until Ctrl-C')
    .option('--service <name>', 'only events of this service (and its tasks and rollouts)')
    .option('--node <name>', 'only events of this node (and the tasks on it)')
    .option('--since <when>', 'only events since a duration ago (30s, 10m, 1h) or an RFC 3339 time', checkSince)
    .option('--after <id>', 'only events after this event id (an event\'s "id" in -o json, the ID column of -o wide)', checkAfter)
    .addOption(new Option('-o, --output <format>', 'wide: also the node and the event id; json: the API\'s events').choices(['wide', 'json'] as const))
    .addHelpText(
      'after',
      `
The control plane keeps the last ${EVENT_LOG_MAX_COUNT} events of the past ${formatDuration(EVENT_LOG_MAX_AGE_MS)}. Each line is
  TIME (local; with the date when not today)  OBJECT (kind/name)  REASON  MESSAGE
REASON is a stable CamelCase code for scripts (docs/api.md lists them). With -o json: { "items": [...] },
or with -w one JSON object per line.

With -w a lost connection (the control plane restarted, a replica went away) is reported on stderr
and retried until Ctrl-C, resuming after the last event printed: nothing is missed or printed twice.
Ctrl-C exits 0.

Examples:
  berth events
  berth events -w --service web
  berth events --node n2 --since 10m -o wide`,
    )
    .action(async (opts) => {
      const query: EventsQuery = pick(opts, 'service', 'node', 'since', 'after');
      const client = ctx.client();
      const wide = opts.output === 'wide';
      if (!opts.watch) {
        const items = await client.listEvents(query);
        if (opts.output === 'json') ctx.out(serialize({ items }, 'json'));
        else if (items.length === 0) ctx.err('No events found.');
        else ctx.out([eventHeader(wide), ...items.map((e) => eventLine(e, ctx.now(), wide))].join('\n'));
        return;
      }
      let header = opts.output === 'json';
      await followEvents(client, query, {
        signal: ctx.interruption(),
        say: ctx.err,
        onEvent: (e) => {
          if (!header) ctx.out(eventHeader(wide));
          header = true;
          ctx.out(opts.output === 'json' ? JSON.stringify(e) : eventLine(e, ctx.now(), wide));
        },
      });
    });
}

/** What followEvents reads from: the client, or a test's stand-in. */
export interface EventSource {
  watchEvents(query: EventsQuery, opts: WatchEventsOptions): AsyncIterable<ClusterEvent>;
}

export interface FollowOptions {
  /** Ctrl-C: ends following quietly. */
  readonly signal: AbortSignal;
  /** Each event, once, in commit order. */
  onEvent(e: ClusterEvent): void;
  /** A line for stderr: the stream was lost, or is back. */
  say(line: string): void;
  /** Waits between attempts (tests pass their own); rejects when `signal` aborts. */
  readonly wait?: (ms: number, signal: AbortSignal) => Promise<unknown>;
}

/**
 * Follows the event log until `o.signal` aborts. When the stream is lost (connection refused or
 * cut, the server ended it, silence) it says so and reconnects with backoff, after the last event
 * seen, so every event is handed on exactly once. Throws what a retry would not change: a first
 * connection that fails (wrong server?) and refusals (an invalid query, an unknown route).
 */
export async function followEvents(source: EventSource, query: EventsQuery, o: FollowOptions): Promise<void> {
  const wait = o.wait ?? ((ms, signal) => sleep(ms, undefined, { signal }));
  let last = query.after;
  let opened = false;
  let failures = 0;
  while (!o.signal.aborted) {
    const onOpen = () => {
      if (failures > 0) o.say(`berth: event stream back${last === undefined ? '' : `, resuming after ${last}`}`);
      opened = true;
      failures = 0;
    };
    let lost: string;
    try {
      for await (const e of source.watchEvents(resumeQuery(query, last), { signal: o.signal, onOpen })) {
        if (last !== undefined && compareEventIds(e.id, last) <= 0) continue; // never twice
        last = e.id;
        o.onEvent(e);
      }
      if (o.signal.aborted) return;
      lost = 'the control plane ended it';
    } catch (e) {
      if (o.signal.aborted) return;
      if (!opened || !retryable(e)) throw e;
      lost = e instanceof UnreachableError ? e.reason : (e as Error).message;
    }
    const delay = retryDelay(++failures);
    o.say(`berth: lost the event stream (${lost}); reconnecting in ${formatDuration(delay)}`);
    try {
      await wait(delay, o.signal);
    } catch {
      return; // Ctrl-C while waiting
    }
  }
}

/**
 * The query of a (re)connection: after the last event seen. `since` is dropped then: every event
 * after one that passed it is newer, and a relative `since` would now cut off the outage's events.
 */
export function resumeQuery(query: EventsQuery, last: string | undefined): EventsQuery {
  if (last === undefined || last === query.after) return query;
  const { since: _since, ...rest } = query;
  return { ...rest, after: last };
}

export function retryDelay(failures: number): number {
  return Math.min(RETRY_MAX_MS, RETRY_BASE_MS * 2 ** (failures - 1));
}

/** Lost connections and server-side trouble pass; a refused query does not. */
function retryable(e: unknown): boolean {
  return e instanceof UnreachableError || (e instanceof ApiError && e.status >= 500);
}

function pick<T extends object, K extends keyof T>(o: T, ...keys: K[]): Partial<Pick<T, K>> {
  return Object.fromEntries(keys.filter((k) => o[k] !== undefined).map((k) => [k, o[k]])) as Partial<Pick<T, K>>;
}

function checkSince(value: string): string {
  const parsed = parseSince(value, new Date());
  if (!parsed.ok) throw new UsageError(`--since ${parsed.reason}`);
  return value;
}

function checkAfter(value: string): string {
  const parsed = parseAfter(value);
  if (!parsed.ok) throw new UsageError(`--after ${parsed.reason}`);
  return value;
}

import { setTimeout as sleep } from 'node:timers/promises';
import type { ServiceView, TaskView } from '@berth/api';
import { formatDuration, parseDuration } from '@berth/core';
import type { BerthClient } from '../client/http-client';
import type { CliContext } from '../context';
import { ApiError, TaskFailedError, UsageError, WaitTimeoutError } from '../errors';
import { ProgressBoard } from '../output/progress';
import { assessService, timeoutMessage, waitTarget, type Assessment, type WaitTarget } from '../output/rollout';

export const POLL_INTERVAL_MS = 500;
export const DEFAULT_WAIT_TIMEOUT = '5m';

/** Parses `--timeout DURATION` (`90s`, `5m`, `1m30s`) into milliseconds; 0 is refused. */
export function parseTimeout(value: string): number {
  const parsed = parseDuration(value);
  if (!parsed.ok) throw new UsageError(`--timeout: ${parsed.reason}`);
  if (parsed.value === 0) throw new UsageError('--timeout must be longer than 0s');
  return parsed.value;
}

/** What a service looked like before the write: `--wait` compares the result against it. */
export interface ServiceSnapshot {
  readonly name: string;
  readonly service?: ServiceView;
  readonly tasks: readonly TaskView[];
}

/** Reads the services about to be written (absent ones are new) and their tasks. */
export async function snapshotServices(client: BerthClient, names: readonly string[]): Promise<ServiceSnapshot[]> {
  return Promise.all(
    names.map(async (name) => {
      const service = await client.getService(name).catch((e: unknown) => {
        if (e instanceof ApiError && e.code === 'NOT_FOUND') return undefined;
        throw e;
      });
      const tasks = service === undefined ? [] : await client.listTasks(name);
      return { name, ...(service ? { service } : {}), tasks };
    }),
  );
}

/** Pairs each snapshot with the service the write answered with. */
export function targetsFor(snapshots: readonly ServiceSnapshot[], written: readonly ServiceView[]): WaitTarget[] {
  return snapshots.flatMap((s) => {
    const now = written.find((w) => w.metadata.name === s.name);
    return now ? [waitTarget(s.name, s.service, s.tasks, now)] : [];
  });
}

/**
 * Polls the services every 500 ms until all are done, printing progress on stderr. Throws
 * TaskFailedError when a task of the new spec fails, WaitTimeoutError after `timeoutMs`.
 */
export async function waitForServices(ctx: CliContext, targets: readonly WaitTarget[], timeoutMs: number): Promise<void> {
  const client = ctx.client();
  const board = new ProgressBoard(ctx.stderrIsTty);
  const deadline = ctx.now().getTime() + timeoutMs;
  const show = (text: string) => {
    if (text) ctx.errRaw(text);
  };
  try {
    for (;;) {
      const results = await Promise.all(targets.map((t) => assess(client, t)));
      show(board.update(results.map((r) => r.line)));
      const failed = results.find((r) => r.kind === 'failed');
      if (failed) throw new TaskFailedError(failed.message);
      const waiting = results.flatMap((r) => (r.kind === 'waiting' ? [r.missing] : []));
      if (waiting.length === 0) return;
      const left = deadline - ctx.now().getTime();
      if (left <= 0) throw new WaitTimeoutError(timeoutMessage(formatDuration(timeoutMs), waiting));
      await sleep(Math.min(POLL_INTERVAL_MS, left));
    }
  } finally {
    show(board.finish());
  }
}

async function assess(client: BerthClient, target: WaitTarget): Promise<Assessment> {
  const [service, tasks] = await Promise.all([client.getService(target.service), client.listTasks(target.service)]);
  return assessService(target, service, tasks);
}

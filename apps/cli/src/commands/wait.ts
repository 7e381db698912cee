import { setTimeout as sleep } from 'node:timers/promises';
import type { ServiceView, TaskView } from '@berth/api';
import { formatDuration, parseDuration } from '@berth/core';
import type { BerthClient } from '../client/http-client';
import type { CliContext } from '../context';
import { AnswerIsNoError, ApiError, SupersededError, TaskFailedError, UsageError, WaitTimeoutError } from '../errors';
import { ProgressBoard } from '../output/progress';
import { assessService, learnTarget, timeoutMessage, waitTarget, type WaitOutcome, type WaitTarget } from '../output/rollout';

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
 * Polls the services every 500 ms until each has converged or its rollout stopped (paused, rolled
 * back), printing progress on stderr, and returns how each ended. Throws TaskFailedError when a
 * task of a new service (or a scale) fails, SupersededError when a newer revision replaced the
 * one waited for, WaitTimeoutError after `timeoutMs`. A stopped rollout is no error here: the
 * caller reports it (stoppedError) after printing what it prints.
 */
export async function waitForServices(ctx: CliContext, targets: readonly WaitTarget[], timeoutMs: number): Promise<WaitOutcome[]> {
  const client = ctx.client();
  const board = new ProgressBoard(ctx.stderrIsTty);
  const deadline = ctx.now().getTime() + timeoutMs;
  const show = (text: string) => {
    if (text) ctx.errRaw(text);
  };
  const current = [...targets];
  const lines = current.map(() => '');
  const ended = new Map<number, WaitOutcome>();
  try {
    for (;;) {
      const open = current.flatMap((_, i) => (ended.has(i) ? [] : [i]));
      const looks = await Promise.all(open.map((i) => look(client, current[i]!)));
      const waiting: string[] = [];
      const assessed = open.map((i, k) => {
        const { service, tasks } = looks[k]!;
        const target = learnTarget(current[i]!, service);
        current[i] = target;
        const assessment = assessService(target, service, tasks);
        lines[i] = assessment.line;
        return { i, target, service, assessment };
      });
      show(board.update(lines));
      for (const { i, target, service, assessment: a } of assessed) {
        if (a.kind === 'failed') throw new TaskFailedError(a.message);
        if (a.kind === 'superseded') throw new SupersededError(a.message);
        if (a.kind === 'done') ended.set(i, { target, service, result: 'converged' });
        else if (a.kind === 'stopped') ended.set(i, { target, service, result: a.result, message: a.message });
        else waiting.push(a.missing);
      }
      if (ended.size === current.length) return current.map((_, i) => ended.get(i)!);
      const left = deadline - ctx.now().getTime();
      if (left <= 0) {
        const stopped = [...ended.values()].flatMap((o) => (o.message === undefined ? [] : [o.message.split('\n')[0]!]));
        throw new WaitTimeoutError(timeoutMessage(formatDuration(timeoutMs), [...waiting, ...stopped]));
      }
      await sleep(Math.min(POLL_INTERVAL_MS, left));
    }
  } finally {
    show(board.finish());
  }
}

/** Exit 3 when a rollout paused or was rolled back: each one's message, in order; else undefined. */
export function stoppedError(outcomes: readonly WaitOutcome[]): AnswerIsNoError | undefined {
  const messages = outcomes.flatMap((o) => (o.message === undefined ? [] : [o.message]));
  return messages.length === 0 ? undefined : new AnswerIsNoError(messages.join('\n'));
}

async function look(client: BerthClient, target: WaitTarget): Promise<{ service: ServiceView; tasks: TaskView[] }> {
  const [service, tasks] = await Promise.all([client.getService(target.service), client.listTasks(target.service)]);
  return { service, tasks };
}

import { watch, type FSWatcher } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import type { TaskPaths } from './task-paths';

/** The exit code conmon recorded, or undefined while the task has not exited. */
export async function readExitCode(exitFile: string): Promise<number | undefined> {
  const text = await readFile(exitFile, 'utf8').catch(() => undefined);
  if (text === undefined || text.trim() === '') return undefined;
  const code = Number(text.trim());
  return Number.isInteger(code) ? code : undefined;
}

export async function readPid(pidFile: string): Promise<number | undefined> {
  const text = await readFile(pidFile, 'utf8').catch(() => undefined);
  const pid = Number(text?.trim());
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

/**
 * True while this task's conmon runs. Checks the command line, not just the pid, so a recycled
 * pid is not mistaken for it; a zombie (exited, not yet reaped by its new parent) counts as gone.
 */
export async function conmonAlive(paths: TaskPaths): Promise<boolean> {
  const pid = await readPid(paths.conmonPidFile);
  if (!pid) return false;
  const [cmdline, stat] = await Promise.all([
    readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => ''),
    readFile(`/proc/${pid}/stat`, 'utf8').catch(() => ''),
  ]);
  const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  return cmdline.includes('conmon') && cmdline.includes(paths.bundle) && state !== 'Z' && state !== '';
}

/**
 * SIGKILLs the session `sid` — the one `runc exec` puts the command it starts in (the command's
 * pid is the session id) — and every descendant of its members, also those that began a session
 * of their own. Looks at every process in /proc once; a process that exits meanwhile is skipped.
 */
export async function killSession(sid: number): Promise<void> {
  if (!Number.isInteger(sid) || sid <= 1) return;
  const procs = await processTable();
  const doomed = new Set(procs.filter((p) => p.sid === sid).map((p) => p.pid));
  for (let grew = true; grew; ) {
    grew = false;
    for (const p of procs) {
      if (!doomed.has(p.pid) && doomed.has(p.ppid)) {
        doomed.add(p.pid);
        grew = true;
      }
    }
  }
  for (const pid of doomed) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Already gone: what we wanted.
    }
  }
}

async function processTable(): Promise<{ pid: number; ppid: number; sid: number }[]> {
  const entries = (await readdir('/proc')).filter((e) => /^\d+$/.test(e));
  const rows = await Promise.all(
    entries.map(async (e) => {
      const stat = await readFile(`/proc/${e}/stat`, 'utf8').catch(() => '');
      // After "(comm)": state ppid pgrp session …; comm may itself contain spaces and parentheses.
      const [, ppid, , session] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      return { pid: Number(e), ppid: Number(ppid), sid: Number(session) };
    }),
  );
  return rows.filter((r) => Number.isInteger(r.sid) && r.sid > 0);
}

/**
 * Polls `probe` until it yields a value, `ms` pass, or `giveUp` says waiting is pointless.
 * Returns the value, or undefined on timeout / give-up.
 */
export async function waitFor<T>(probe: () => Promise<T | undefined>, ms: number, giveUp?: () => Promise<boolean>): Promise<T | undefined> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() >= deadline || (giveUp && (await giveUp()))) return probe();
    await sleep(50);
  }
}

/**
 * Wakes a waiter when a directory changes (one inotify watch) or after `ms` at the latest. A
 * change that happens while nobody waits is remembered, so none is lost between a look and the
 * next wait. A directory that cannot be watched leaves only the timeout.
 */
export class DirectoryDoorbell {
  private rung = false;
  private ring: (() => void) | undefined;
  private readonly watcher: FSWatcher | undefined;

  constructor(dir: string) {
    const onChange = (): void => {
      this.rung = true;
      this.ring?.();
    };
    try {
      this.watcher = watch(dir, { persistent: false }, onChange);
      this.watcher.on('error', () => this.watcher?.close());
    } catch {
      this.watcher = undefined;
    }
  }

  /** Resolves on the next change (or one since the last wait) or after `ms`; rejects when `signal` aborts. */
  async next(ms: number, signal?: AbortSignal): Promise<void> {
    if (this.rung) {
      this.rung = false;
      return;
    }
    signal?.throwIfAborted();
    const ctl = new AbortController();
    const onAbort = (): void => ctl.abort();
    signal?.addEventListener('abort', onAbort, { once: true });
    this.ring = onAbort;
    try {
      await sleep(ms, undefined, { signal: ctl.signal }).catch(() => undefined);
    } finally {
      this.ring = undefined;
      this.rung = false;
      signal?.removeEventListener('abort', onAbort);
    }
    signal?.throwIfAborted();
  }

  close(): void {
    this.watcher?.close();
  }
}

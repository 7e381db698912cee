import { open, readdir, readFile } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { RuntimeOperationError } from '../errors';
import { readPid, waitFor } from '../runc/task-process';
import { parseGuestStatus, type GuestStatus } from './guest-protocol';
import type { VmPaths } from './vm-paths';

/** Exit code recorded when the driver kills a VM whose workload has not exited: as SIGKILL gives. */
export const KILLED = 137;
/** Exit code when the VM ended without its guest recording one (crash, error before the workload ran). */
export const LOST = 255;

/** The complete lines of the guest's status port so far. */
export async function guestStatuses(statusFile: string): Promise<GuestStatus[]> {
  const text = await readFile(statusFile, 'utf8').catch(() => '');
  return text ? parseGuestStatus(text) : [];
}

/** The task's exit code: the guest's (an error before the workload ran: 255), else the driver's record. */
export async function exitCodeOf(p: VmPaths): Promise<number | undefined> {
  for (const s of await guestStatuses(p.status)) {
    if (s.kind === 'exited') return s.code;
    if (s.kind === 'error') return LOST;
  }
  const text = await readFile(p.exitFile, 'utf8').catch(() => '');
  const code = Number(text.trim());
  return text.trim() !== '' && Number.isInteger(code) ? code : undefined;
}

/**
 * QEMU's pid (from `pidFile`) while it runs. Checks the command line for the pid file, so a
 * recycled pid is not mistaken for it. A QEMU that exited counts as gone only once all its
 * threads have: the main thread turns zombie first, and the others hold QEMU's files (the 9p
 * export in the rootfs) until they are gone too.
 */
export function qemuPid(pidFile: string): Promise<number | undefined> {
  return daemonPid(pidFile, pidFile);
}

/** SIGKILLs the QEMU of `pidFile` if it runs and resolves once it is gone; throws if it outlives 10 s. */
export function killQemu(taskId: string, pidFile: string, operation: string): Promise<void> {
  return killDaemon(taskId, pidFile, pidFile, 'QEMU', operation);
}

/**
 * The pid in `pidFile` while that process (or any of its threads) runs with `marker` on its
 * command line, so a recycled pid is never mistaken for it.
 */
export async function daemonPid(pidFile: string, marker: string): Promise<number | undefined> {
  const pid = await readPid(pidFile);
  if (!pid) return undefined;
  if (await threadRuns(`/proc/${pid}`, marker)) return pid;
  const threads = await readdir(`/proc/${pid}/task`).catch(() => [] as string[]);
  for (const tid of threads) if (await threadRuns(`/proc/${pid}/task/${tid}`, marker)) return pid;
  return undefined;
}

/** SIGKILLs the daemon daemonPid finds and resolves once it is gone; throws, naming it `what`, if it outlives 10 s. */
export async function killDaemon(taskId: string, pidFile: string, marker: string, what: string, operation: string): Promise<void> {
  const pid = await daemonPid(pidFile, marker);
  if (pid === undefined) return;
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // It exited between the check and the kill: what we wanted.
  }
  const gone = await waitFor(async () => ((await daemonPid(pidFile, marker)) === undefined ? true : undefined), 10_000);
  if (!gone) throw new RuntimeOperationError(taskId, operation, `${what} (pid ${pid}) was still running 10 s after SIGKILL`);
}

/** True when the process (or thread) at `/proc` path `dir` runs with `marker` on its command line. */
async function threadRuns(dir: string, marker: string): Promise<boolean> {
  const [cmdline, stat] = await Promise.all([readFile(`${dir}/cmdline`, 'utf8').catch(() => ''), readFile(`${dir}/stat`, 'utf8').catch(() => '')]);
  const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  return cmdline.includes(marker) && state !== 'Z' && state !== 'X' && state !== '';
}

/** A connection to the guest's control port; undefined when QEMU does not answer (the kill that follows ends it). */
export async function connectControl(socket: string): Promise<Socket | undefined> {
  return new Promise((resolve) => {
    const conn = connect(socket);
    const timer = setTimeout(() => {
      conn.destroy();
      resolve(undefined);
    }, 2_000);
    conn.once('error', () => {
      clearTimeout(timer);
      resolve(undefined);
    });
    conn.once('connect', () => {
      clearTimeout(timer);
      resolve(conn);
    });
  });
}

/** The last lines of a VM's serial console file, to explain a boot that went wrong ('' when there are none). */
export async function consoleTail(consoleFile: string): Promise<string> {
  const file = await open(consoleFile, 'r').catch(() => undefined);
  if (!file) return '';
  try {
    const { size } = await file.stat();
    const buf = Buffer.alloc(Math.min(size, 2048));
    await file.read(buf, 0, buf.length, size - buf.length);
    const lines = buf.toString('utf8').split(/\r?\n/).filter((l) => l.trim() !== '').slice(-5);
    return lines.length > 0 ? `; console: ${lines.join(' | ')}` : '';
  } finally {
    await file.close();
  }
}

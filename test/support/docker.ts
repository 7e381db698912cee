import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Integration tests need a Docker engine. When none answers, `ensureDocker` starts the
 * distribution's dockerd in the background. Several test runs (helpers, CI shards) may share one
 * machine, so runs register themselves in a small state directory: the engine we started is
 * stopped (by PID) only when the last registered run ends, and never an engine we did not start.
 *
 * Flags, and why: `--iptables=false --ip6tables=false` keep dockerd from rewriting the host's
 * firewall (its defaults set the FORWARD policy to DROP and load br_netfilter, which breaks CNI
 * bridges on the same host); published ports then go through docker-proxy on loopback.
 * `--ip-forward=false` leaves the net.ipv4.ip_forward sysctl as it was.
 */
export const DOCKERD_FLAGS = ['--iptables=false', '--ip6tables=false', '--ip-forward=false'] as const;

const STATE = '/tmp/berth-test-docker';
const LOCK = `${STATE}.lock`;
const OWNER = join(STATE, 'dockerd.json');
const USERS = join(STATE, 'users');
const BRIDGE = '/sys/class/net/docker0';
const LOG = '/tmp/berth-test-dockerd.log';

interface Owner {
  readonly pid: number;
  /** Whether docker0 existed before we started dockerd (dockerd leaves it behind). */
  readonly hadBridge: boolean;
}

export function dockerAnswers(): boolean {
  try {
    execFileSync('docker', ['info', '--format', '{{.ServerVersion}}'], { stdio: 'ignore', timeout: 10_000 });
    return true;
  } catch {
    return false;
  }
}

export interface DockerHandle {
  /** PID of the dockerd these runs share and we started, or undefined when an engine was already running. */
  readonly startedPid: number | undefined;
}

export async function ensureDocker(opts: { timeoutMs?: number } = {}): Promise<DockerHandle> {
  // testcontainers' reaper image cannot be pulled here; every test removes its own containers.
  process.env.TESTCONTAINERS_RYUK_DISABLED = 'true';
  return withLock(async () => {
    mkdirSync(USERS, { recursive: true });
    writeFileSync(join(USERS, String(process.pid)), '');
    const owner = readOwner();
    if (dockerAnswers()) return { startedPid: owner?.pid };
    if (owner && isAlive(owner.pid)) await waitUntil(dockerAnswers, opts.timeoutMs ?? 60_000, 'dockerd did not answer');
    else await startDockerd(opts.timeoutMs ?? 60_000);
    return { startedPid: readOwner()?.pid };
  });
}

async function startDockerd(timeoutMs: number): Promise<void> {
  const hadBridge = existsSync(BRIDGE);
  const log = openSync(LOG, 'a');
  const child = spawn('dockerd', [...DOCKERD_FLAGS], { detached: true, stdio: ['ignore', log, log] });
  child.unref();
  const pid = child.pid;
  if (pid === undefined) throw new Error('could not start dockerd (is the Debian package "docker.io" installed?)');
  writeFileSync(OWNER, JSON.stringify({ pid, hadBridge } satisfies Owner));
  try {
    await waitUntil(() => {
      if (child.exitCode !== null) throw new Error(`dockerd exited with code ${child.exitCode}; see ${LOG}`);
      return dockerAnswers();
    }, timeoutMs, 'dockerd did not answer within the timeout');
  } catch (e) {
    await stopOwner({ pid, hadBridge });
    throw e;
  }
}

/**
 * Unregisters this run; when it was the last one, stops the dockerd we started (by PID), waits
 * for it to exit and removes the docker0 bridge it created.
 */
export async function releaseDocker(): Promise<void> {
  await withLock(async () => {
    rmSync(join(USERS, String(process.pid)), { force: true });
    const others = existsSync(USERS) ? readdirSync(USERS).filter((p) => isAlive(Number(p))) : [];
    const owner = readOwner();
    if (others.length > 0 || !owner) return;
    await stopOwner(owner);
    rmSync(STATE, { recursive: true, force: true });
  });
}

async function stopOwner(owner: Owner): Promise<void> {
  if (isAlive(owner.pid)) {
    process.kill(owner.pid, 'SIGTERM');
    try {
      await waitUntil(() => !isAlive(owner.pid), 30_000, 'dockerd did not stop');
    } catch {
      process.kill(owner.pid, 'SIGKILL');
    }
  }
  rmSync(OWNER, { force: true });
  if (!owner.hadBridge && existsSync(BRIDGE)) execFileSync('ip', ['link', 'del', 'docker0']);
}

function readOwner(): Owner | undefined {
  try {
    return JSON.parse(readFileSync(OWNER, 'utf8')) as Owner;
  } catch {
    return undefined;
  }
}

/** A cross-process mutex: mkdir is atomic. A lock older than two minutes is from a dead run. */
async function withLock<T>(fn: () => Promise<T>): Promise<T> {
  for (;;) {
    try {
      mkdirSync(LOCK);
      break;
    } catch {
      const age = Date.now() - (statSafe(LOCK) ?? Date.now());
      if (age > 120_000) rmSync(LOCK, { recursive: true, force: true });
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(LOCK, { recursive: true, force: true });
  }
}

function statSafe(path: string): number | undefined {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return undefined;
  }
}

async function waitUntil(check: () => boolean, timeoutMs: number, message: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(message);
    await new Promise((r) => setTimeout(r, 250));
  }
}

function isAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

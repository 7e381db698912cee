import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Runtime } from '@berth/core';
import { describe, expect, it } from 'vitest';
import { EXEC_OUTPUT_LIMIT, type ExecProcess, type LogLine, type LogStream, type RuntimeDriver, type TaskConfig, type TaskHandle } from './driver';

/**
 * What a driver's test file supplies besides the driver: an image and host probes that look at
 * the machine directly, not through the driver, so the suite checks what really happened.
 */
export interface ConformanceFixture {
  /** An image with a busybox-like userland (sh, sleep, echo, cat, test, hostname, head, stty) and /dev/zero. */
  readonly image: string;
  /** What is still on the host for this task after destroy (mounts, runtime state, cgroups, dirs…); [] when nothing. */
  leftovers(h: TaskHandle): Promise<string[]>;
  /** Command lines (argv joined by spaces) of every process running alongside the task process `pid`. */
  processesOf(pid: number): Promise<string[]>;
  /** The memory limit the kernel enforces on the process `pid`, in bytes (isolation checks only). */
  memoryLimitOf?(pid: number): Promise<number>;
}

/** What the suite asks a task, or a command exec'd in one, to do — whatever the driver runs. */
export interface Behaviour {
  /** Lines written in order, `everyMs` apart (default: at once). */
  readonly print?: readonly (readonly [LogStream, string])[];
  readonly everyMs?: number;
  /** Exits with this code after the last line; absent: runs until stopped. */
  readonly exit?: number;
  /** What SIGTERM does: exit with this code, or nothing ('ignore'); absent: the runtime's default. */
  readonly onTerm?: number | 'ignore';
}

/** How a driver's tasks are told to behave: commands in the language the driver runs. */
export interface ConformanceCommands {
  command(b: Behaviour): string[];
  /** A program the task does not have; running it fails with output that says "no-such-program". */
  readonly missing: readonly string[];
  /** Prints "started", starts more of itself in the background, and never ends; `traces` matches what of it could be left running. */
  readonly hang: { readonly command: readonly string[]; readonly traces: RegExp };
}

const shellQuote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

/** Shell one-liners for a busybox-like image: what process-running drivers (runc, qemu) are given. */
export const SHELL_COMMANDS: ConformanceCommands = {
  command(b) {
    const steps: string[] = [];
    if (b.onTerm !== undefined) steps.push(b.onTerm === 'ignore' ? "trap '' TERM" : `trap 'exit ${b.onTerm}' TERM`);
    (b.print ?? []).forEach(([stream, text], i) => {
      if (i > 0 && b.everyMs) steps.push(`sleep ${b.everyMs / 1000}`);
      steps.push(`echo ${shellQuote(text)}${stream === 'stderr' ? ' >&2' : ''}`);
    });
    // A trap needs the shell to stay; otherwise sleep replaces it as the task process.
    if (b.exit !== undefined) steps.push(`exit ${b.exit}`);
    else steps.push(b.onTerm !== undefined ? 'while :; do sleep 0.1; done' : 'exec sleep 1000');
    return ['sh', '-c', steps.join('; ')];
  },
  missing: ['no-such-program'],
  hang: { command: ['sh', '-c', 'setsid sleep 301 & sleep 302 & echo started; sleep 303'], traces: /sleep 30[123]|setsid/ },
};

export interface ConformanceOptions {
  /** Default SHELL_COMMANDS. */
  readonly commands?: ConformanceCommands;
  /**
   * Whether the driver runs the image's processes isolated (environment, hostname, own root
   * filesystem, volumes, kernel-enforced limits): checked unless false. Only the hollow driver,
   * which runs no processes, opts out.
   */
  readonly isolation?: boolean;
  /** What the suite's tasks run as (TaskConfig.runtime); default 'container'. With 'vm' they get `vm: { vcpus: 1 }`. */
  readonly runtime?: Runtime;
  /**
   * false: the driver refuses exec on a running task (the message says "not supported"); the
   * suite checks that refusal instead of running its exec cases. Default: exec is checked.
   */
  readonly exec?: false;
  /**
   * false: the driver refuses execStream on a running task ("not supported") though it may run
   * exec; implied by `exec: false`. Default: execStream is checked, with shell commands.
   */
  readonly execStream?: false;
  /**
   * The memory limit the kernel enforces (and stats report) for a task asking for
   * `requestedBytes`, when the driver documents another than the request itself (a VM's is its
   * guest RAM plus QEMU's overhead). Default: the request.
   */
  memoryLimitFor?(requestedBytes: number): number;
}

const MiB = 1024 * 1024;

/**
 * Declares the shared driver test suite (vitest): the driver's state machine (prepare, start,
 * wait, stop, destroy, recover, exec, execStream, logs), then — unless `isolation` is false — what its
 * processes see. `makeDriver` must return a new instance over the same host state on every call:
 * the suite uses a second instance to play a restarted agent. `fixture` is called inside the
 * tests, so it may be filled in by the caller's beforeAll.
 */
export function runDriverConformance(name: string, makeDriver: () => RuntimeDriver, fixture: () => ConformanceFixture, o: ConformanceOptions = {}): void {
  const commands = o.commands ?? SHELL_COMMANDS;
  const runtime = o.runtime ?? 'container';
  const config = (command: readonly string[], extra: Partial<TaskConfig> = {}): TaskConfig => ({
    taskId: `conf.${randomBytes(3).toString('hex')}.${randomBytes(3).toString('hex')}`,
    service: 'conf',
    runtime,
    ...(runtime === 'vm' ? { vm: { vcpus: 1 } } : {}),
    image: fixture().image,
    command: [...command],
    env: {},
    resources: {},
    ports: [],
    volumes: [],
    stopGracePeriodMs: 2_000,
    ...extra,
  });
  const suite: Suite = {
    makeDriver,
    fixture,
    commands,
    task: (b, extra) => config(commands.command(b), extra),
    shell: (script, extra) => config(['sh', '-c', script], extra),
    exec: o.exec !== false,
    execStream: o.exec !== false && o.execStream !== false,
    memoryLimitFor: (bytes) => o.memoryLimitFor?.(bytes) ?? bytes,
  };
  describe(`RuntimeDriver conformance: ${name}`, () => {
    describeLifecycle(suite);
    if (suite.exec) describeExec(suite);
    else describeExecRefused(suite);
    if (suite.execStream) describeExecStream(suite);
    else if (suite.exec) describeExecStreamRefused(suite);
    describeLogs(suite);
    if (o.isolation !== false) describeIsolation(suite);
  });
}

interface Suite {
  readonly makeDriver: () => RuntimeDriver;
  readonly fixture: () => ConformanceFixture;
  readonly commands: ConformanceCommands;
  /** A task that behaves as told. */
  task(b: Behaviour, extra?: Partial<TaskConfig>): TaskConfig;
  /** A task running a shell script in the image (isolation checks only). */
  shell(script: string, extra?: Partial<TaskConfig>): TaskConfig;
  /** Whether the driver runs commands in a running task (else it refuses: "not supported"). */
  readonly exec: boolean;
  /** Whether it runs them with their stdio as streams too (else it refuses: "not supported"). */
  readonly execStream: boolean;
  memoryLimitFor(requestedBytes: number): number;
}

/** Prepares a task, hands it to `body`, and always destroys it afterwards. */
async function withTask(s: Suite, config: TaskConfig, body: (d: RuntimeDriver, h: TaskHandle) => Promise<void>): Promise<void> {
  const driver = s.makeDriver();
  const h = await driver.prepare(config);
  try {
    await body(driver, h);
  } finally {
    await driver.destroy(h);
  }
}

async function running(d: RuntimeDriver, h: TaskHandle): Promise<number> {
  const s = await d.inspect(h);
  if (s.state !== 'running') throw new Error(`expected a running task, got ${JSON.stringify(s)}`);
  return s.pid;
}

const READY: Behaviour = { print: [['stdout', 'ready']] };

function describeLifecycle(s: Suite): void {
  it('prepares a task without running it, then reports its exit code', async () => {
    await withTask(s, s.task({ exit: 3 }), async (d, h) => {
      expect(await d.inspect(h)).toEqual({ state: 'created' });
      await d.start(h);
      expect(await d.wait(h)).toBe(3);
      expect(await d.inspect(h)).toEqual({ state: 'exited', exitCode: 3 });
    });
  });

  it('prepare is idempotent', async () => {
    const config = s.task({ exit: 0 });
    await withTask(s, config, async (d, h) => {
      expect(await d.prepare(config)).toEqual(h);
      expect(await d.inspect(h)).toEqual({ state: 'created' });
    });
  });

  it('stopping a prepared task that never started ends it without running it', async () => {
    await withTask(s, s.task({ print: [['stdout', 'should-not-run']], exit: 0 }), async (d, h) => {
      await d.stop(h, { graceMs: 100 });
      expect((await d.inspect(h)).state).toMatch(/^(exited|gone)$/);
      expect(await texts(d.logs(h))).toEqual([]);
    });
  });

  it('a task that handles SIGTERM stops gracefully within the grace period', async () => {
    await withTask(s, s.task({ ...READY, onTerm: 0 }), async (d, h) => {
      await d.start(h);
      // Only once the trap is installed: before that, SIGTERM to a namespace's init is dropped.
      await untilLine(d, h, 'ready');
      await d.stop(h, { graceMs: 10_000 });
      expect(await d.inspect(h)).toEqual({ state: 'exited', exitCode: 0 });
    });
  });

  it('a task ignoring SIGTERM is killed with SIGKILL after the grace period', async () => {
    await withTask(s, s.task({ ...READY, onTerm: 'ignore' }), async (d, h) => {
      await d.start(h);
      await untilLine(d, h, 'ready');
      await d.stop(h, { graceMs: 300 });
      expect(await d.inspect(h)).toEqual({ state: 'exited', exitCode: 137 });
    });
  });

  it('destroy is idempotent and leaves nothing behind', async () => {
    const d = s.makeDriver();
    const h = await d.prepare(s.task({}));
    await d.start(h);
    await running(d, h);
    await d.destroy(h);
    await d.destroy(h);
    expect(await s.fixture().leftovers(h)).toEqual([]);
    expect(await d.inspect(h)).toEqual({ state: 'gone' });
    expect(await s.makeDriver().recover(h)).toBe('gone');
  });

  it('a restarted agent re-attaches to the running task (same pid) and can stop it', async () => {
    await withTask(s, s.task({}), async (d, h) => {
      await d.start(h);
      const pid = await running(d, h);
      const restarted = s.makeDriver();
      expect(await restarted.recover(JSON.parse(JSON.stringify(h)) as TaskHandle)).toBe('attached');
      expect(await restarted.inspect(h)).toEqual({ state: 'running', pid });
      await restarted.stop(h, { graceMs: 100 });
      expect((await restarted.inspect(h)).state).toBe('exited');
    });
  });
}

function describeExec(s: Suite): void {
  it('exec runs a command inside the running task and returns its exit code and output', async () => {
    await withTask(s, s.task(READY), async (d, h) => {
      await d.start(h);
      await untilLine(d, h, 'ready');
      const r = await d.exec(h, s.commands.command({ print: [['stdout', 'hello'], ['stderr', 'oops']], exit: 3 }), { timeoutMs: 10_000 });
      expect(r).toMatchObject({ exitCode: 3, timedOut: false });
      expect(r.output.split('\n').sort()).toEqual(['hello', 'oops']);
      expect(await d.exec(h, ['true'], { timeoutMs: 10_000 })).toEqual({ exitCode: 0, timedOut: false, output: '' });
      const lines = Array.from({ length: 1000 }, () => ['stdout', '0123456789'] as const);
      const big = await d.exec(h, s.commands.command({ print: lines, exit: 0 }), { timeoutMs: 10_000 });
      expect(big.output.length).toBeLessThanOrEqual(EXEC_OUTPUT_LIMIT);
      expect(big.output.startsWith('0123456789\n0123456789')).toBe(true);
      const missing = await d.exec(h, s.commands.missing, { timeoutMs: 10_000 });
      expect(missing.exitCode).not.toBe(0);
      expect(missing.output).toMatch(/no-such-program/);
    });
  });

  it('exec kills a command that misses its deadline, with all it started, and says it timed out', async () => {
    await withTask(s, s.task(READY), async (d, h) => {
      await d.start(h);
      await untilLine(d, h, 'ready');
      const pid = await running(d, h);
      const { command, traces } = s.commands.hang;
      expect(await d.exec(h, command, { timeoutMs: 500 })).toEqual({ timedOut: true, output: 'started' });
      const left = async () => (await s.fixture().processesOf(pid)).filter((p) => traces.test(p));
      expect(await left()).toEqual([]);
      // Aborting (the agent stopping the check) ends it the same way.
      const ctl = new AbortController();
      const aborted = d.exec(h, command, { timeoutMs: 60_000, signal: ctl.signal });
      setTimeout(() => ctl.abort(new Error('check cancelled')), 300);
      await expect(aborted).rejects.toThrow('check cancelled');
      expect(await left()).toEqual([]);
      // The task itself was not touched.
      expect(await d.inspect(h)).toEqual({ state: 'running', pid });
    });
  });

  describeExecNotRunning(s);
}

/** For drivers that cannot exec yet: refused on a running task, saying so, and the task is not touched. */
function describeExecRefused(s: Suite): void {
  describeExecNotRunning(s);

  it('exec and execStream on a running task are refused as not supported', async () => {
    await withTask(s, s.task(READY), async (d, h) => {
      await d.start(h);
      await untilLine(d, h, 'ready');
      const pid = await running(d, h);
      await expect(d.exec(h, ['true'], { timeoutMs: 10_000 })).rejects.toThrow(/not supported/);
      await expect(d.execStream(h, ['true'], { tty: false })).rejects.toThrow(/not supported/);
      expect(await d.inspect(h)).toEqual({ state: 'running', pid });
    });
  });
}

function describeExecNotRunning(s: Suite): void {
  it('exec and execStream refuse a task that is not running', async () => {
    await withTask(s, s.task({ exit: 0 }), async (d, h) => {
      await expect(d.exec(h, ['true'], { timeoutMs: 5_000 })).rejects.toThrow(h.taskId);
      await expect(d.execStream(h, ['true'], { tty: false })).rejects.toThrow(h.taskId);
      await d.start(h);
      await d.wait(h);
      await expect(d.exec(h, ['true'], { timeoutMs: 5_000 })).rejects.toThrow(/not running/);
      await expect(d.execStream(h, ['true'], { tty: true })).rejects.toThrow(/not running/);
    });
  });
}

/**
 * `berth exec`: commands with their stdio as streams. Shell commands (the busybox-like image):
 * only drivers that run the image's processes get here.
 */
function describeExecStream(s: Suite): void {
  it('execStream pipes stdin through, keeps stdout and stderr apart, and returns the exit code', async () => {
    await withTask(s, s.task(READY), async (d, h) => {
      await d.start(h);
      await untilLine(d, h, 'ready');
      const cat = await d.execStream(h, ['cat'], { tty: false });
      cat.stdin.end('hello\nworld\n');
      expect(await outcome(cat)).toEqual({ stdout: 'hello\nworld\n', stderr: '', code: 0 });
      const sh = await d.execStream(h, ['sh', '-c', 'read x; echo "got $x"; echo oops >&2; exit 3'], { tty: false });
      sh.stdin.write('abc\n');
      expect(await outcome(sh)).toEqual({ stdout: 'got abc\n', stderr: 'oops\n', code: 3 });
      // Docker's codes for a command the task cannot run, with the reason instead of the output.
      const missing = await d.execStream(h, s.commands.missing, { tty: false });
      const m = await outcome(missing);
      expect(m).toMatchObject({ stdout: '', code: 127 });
      expect(m.stderr).toMatch(/no-such-program.*not found/);
      const notExecutable = await outcome(await d.execStream(h, ['/'], { tty: false }));
      expect(notExecutable).toMatchObject({ stdout: '', code: 126 });
      expect(notExecutable.stderr).toMatch(/permission denied/i);
    });
  });

  it('execStream does not buffer: a command whose output is not read waits, then all of it arrives', async () => {
    await withTask(s, s.task(READY), async (d, h) => {
      await d.start(h);
      await untilLine(d, h, 'ready');
      const p = await d.execStream(h, ['sh', '-c', `head -c ${8 * MiB} /dev/zero; echo wrote-all >&2`], { tty: false });
      const stderr = drain(p.stderr);
      await sleep(1_000);
      // 8 MiB is far more than the pipes between hold: the command is still blocked writing.
      expect(stderr.text()).toBe('');
      let bytes = 0;
      p.stdout.on('data', (chunk: Buffer) => (bytes += chunk.length));
      expect(await p.exited).toBe(0);
      expect(bytes).toBe(8 * MiB);
      expect(await stderr.all).toBe('wrote-all\n');
    });
  });

  it('execStream with a tty: the command has a terminal of the given size, resize changes it', async () => {
    await withTask(s, s.task(READY), async (d, h) => {
      await d.start(h);
      await untilLine(d, h, 'ready');
      const script = 'test -t 0 && test -t 1 && echo is-a-tty; read x; stty size; read x; stty size; exit 3';
      const p = await d.execStream(h, ['sh', '-c', script], { tty: true, size: { rows: 30, cols: 100 } });
      const stdout = drain(p.stdout);
      const stderr = drain(p.stderr);
      await stdout.until(/is-a-tty\r?\n/);
      p.stdin.write('a\n');
      await stdout.until(/30 100\r?\n/);
      await p.resize({ rows: 50, cols: 120 });
      p.stdin.write('b\n');
      await stdout.until(/50 120\r?\n/);
      expect(await p.exited).toBe(3);
      // The terminal echoes what was typed, and ends lines with CR LF.
      expect(await stdout.all).toMatch(/is-a-tty\r?\n[\s\S]*30 100\r?\n[\s\S]*50 120\r?\n$/);
      expect(await stderr.all).toBe('');
      const missing = await d.execStream(h, s.commands.missing, { tty: true });
      const m = await outcome(missing);
      expect(m).toMatchObject({ stderr: '', code: 127 });
      expect(m.stdout).toMatch(/no-such-program.*not found/);
    });
  });

  it('execStream kill ends the command and everything it started, with or without a tty', async () => {
    await withTask(s, s.task(READY), async (d, h) => {
      await d.start(h);
      await untilLine(d, h, 'ready');
      const pid = await running(d, h);
      const { command, traces } = s.commands.hang;
      for (const tty of [false, true]) {
        const p = await d.execStream(h, command, { tty });
        const stdout = drain(p.stdout);
        drain(p.stderr);
        await stdout.until(/started/);
        await p.kill();
        await p.kill();
        expect(await p.exited).toBe(137);
        expect((await s.fixture().processesOf(pid)).filter((c) => traces.test(c))).toEqual([]);
      }
      // Killing an unread one settles it too; the task itself was not touched.
      const unread = await d.execStream(h, ['sleep', '1000'], { tty: false });
      await unread.kill();
      expect(await unread.exited).toBe(137);
      expect(await d.inspect(h)).toEqual({ state: 'running', pid });
    });
  });
}

/** For drivers that run exec (health checks) but cannot stream a command's stdio. */
function describeExecStreamRefused(s: Suite): void {
  it('execStream on a running task is refused as not supported', async () => {
    await withTask(s, s.task(READY), async (d, h) => {
      await d.start(h);
      await untilLine(d, h, 'ready');
      const pid = await running(d, h);
      await expect(d.execStream(h, ['true'], { tty: true })).rejects.toThrow(/not supported/);
      expect(await d.inspect(h)).toEqual({ state: 'running', pid });
    });
  });
}

interface Drained {
  /** What came so far. */
  text(): string;
  /** Everything, once the stream ended. */
  readonly all: Promise<string>;
  /** Resolves once what came matches `re`; rejects if the stream ends first. */
  until(re: RegExp): Promise<void>;
}

/** How long `Drained.until` waits for its pattern. */
const UNTIL_MS = 30_000;

/** Reads `stream` to its end as text, from now on. */
function drain(stream: Readable): Drained {
  let text = '';
  let ended = stream.readableEnded;
  const waiters = new Set<() => void>();
  const wake = (): void => [...waiters].forEach((w) => w());
  stream.setEncoding('utf8');
  const all = new Promise<string>((resolve, reject) => {
    if (ended) return resolve(text);
    stream.on('data', (chunk: string) => {
      text += chunk;
      wake();
    });
    stream.once('end', () => {
      ended = true;
      resolve(text);
      wake();
    });
    stream.once('error', reject);
  });
  return {
    text: () => text,
    all,
    until: (re) =>
      new Promise<void>((resolve, reject) => {
        // Well inside the test's own timeout, so a hang says what came instead.
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`no ${re} within ${UNTIL_MS} ms; the stream so far: ${JSON.stringify(text)}`));
        }, UNTIL_MS);
        const check = (): void => {
          if (!re.test(text) && !ended) return;
          waiters.delete(check);
          clearTimeout(timer);
          if (re.test(text)) resolve();
          else reject(new Error(`the stream ended without ${re}: ${JSON.stringify(text)}`));
        };
        waiters.add(check);
        check();
      }),
  };
}

/** Both outputs read to their end, and the exit code. */
async function outcome(p: ExecProcess): Promise<{ stdout: string; stderr: string; code: number }> {
  const [stdout, stderr, code] = await Promise.all([drain(p.stdout).all, drain(p.stderr).all, p.exited]);
  return { stdout, stderr, code };
}

function describeLogs(s: Suite): void {
  it('keeps stdout and stderr lines, honours tail, and follows until the task exits', async () => {
    const printed = { print: [['stdout', 'one'], ['stderr', 'two'], ['stdout', 'three'], ['stdout', 'four']], exit: 0 } as const;
    await withTask(s, s.task(printed), async (d, h) => {
      await d.start(h);
      await d.wait(h);
      // The two streams are separate pipes: order is kept within a stream, not across them.
      const all = await collect(d.logs(h));
      expect(all.filter((l) => l.stream === 'stdout').map((l) => l.text)).toEqual(['one', 'three', 'four']);
      expect(all.filter((l) => l.stream === 'stderr').map((l) => l.text)).toEqual(['two']);
      expect(all.every((l) => !Number.isNaN(Date.parse(l.time)))).toBe(true);
      expect(await collect(d.logs(h, { tail: 2 }))).toEqual(all.slice(-2));
    });
    const slow = { print: [['stdout', 'line1'], ['stdout', 'line2'], ['stdout', 'line3']], everyMs: 200, exit: 0 } as const;
    await withTask(s, s.task(slow), async (d, h) => {
      await d.start(h);
      expect(await texts(d.logs(h, { follow: true }))).toEqual(['line1', 'line2', 'line3']);
    });
  });
}

/** What the task's processes see: only for drivers that run the image's processes. */
function describeIsolation(s: Suite): void {
  it('enforces the memory limit on the task process', async () => {
    await withTask(s, s.shell('sleep 1000', { resources: { memoryBytes: 64 * MiB, cpuMillis: 500, pids: 64 } }), async (d, h) => {
      await d.start(h);
      const pid = await running(d, h);
      const probe = s.fixture().memoryLimitOf;
      if (!probe) throw new Error('the fixture has no memoryLimitOf probe, which the isolation checks need');
      const limit = s.memoryLimitFor(64 * MiB);
      expect(await probe(pid)).toBe(limit);
      const stats = await d.stats(h);
      expect(stats.memoryLimitBytes).toBe(limit);
      expect(stats.memoryWorkingSetBytes).toBeLessThanOrEqual(stats.memoryUsageBytes);
      expect(stats.pids).toBeGreaterThanOrEqual(1);
      expect(stats.cpuUsageSeconds).toBeGreaterThanOrEqual(0);
      expect(stats.oomKills).toBe(0);
      // 500 millicores: a quota of half of every period, whichever period the driver chose.
      expect(stats.cpuPeriodMicros).toBeGreaterThan(0);
      expect(stats.cpuQuotaMicros).toBe(stats.cpuPeriodMicros! / 2);
    });
  });

  it('gives each task its own copy-on-write root filesystem', async () => {
    await withTask(s, s.shell('echo secret > /marker && cat /marker'), async (d, first) => {
      await d.start(first);
      expect(await d.wait(first)).toBe(0);
      expect(await texts(d.logs(first))).toEqual(['secret']);
      await withTask(s, s.shell('test -e /marker && echo visible || echo invisible'), async (d2, second) => {
        await d2.start(second);
        expect(await d2.wait(second)).toBe(0);
        expect(await texts(d2.logs(second))).toEqual(['invisible']);
      });
    });
  });

  it('runs the task with its env on top of the image env, and the task id as hostname', async () => {
    const config = s.shell('echo "$GREETING"; hostname; echo "$PATH"', { env: { GREETING: 'hello' } });
    await withTask(s, config, async (d, h) => {
      await d.start(h);
      expect(await d.wait(h)).toBe(0);
      const [greeting, hostname, path] = await texts(d.logs(h));
      expect(greeting).toBe('hello');
      expect(hostname).toBe(config.taskId);
      expect(path).toContain('/bin');
    });
  });

  // A driver that cannot exec yet has said so in describeExecRefused.
  if (s.exec) {
    it('exec runs with the task\'s environment and hostname', async () => {
      await withTask(s, s.shell('echo ready; exec sleep 1000', { env: { GREETING: 'hello' } }), async (d, h) => {
        await d.start(h);
        await untilLine(d, h, 'ready');
        const r = await d.exec(h, ['sh', '-c', 'echo "$GREETING from $(hostname)"'], { timeoutMs: 10_000 });
        expect(r).toEqual({ exitCode: 0, timedOut: false, output: `hello from ${h.taskId}` });
      });
    });
  }

  it('named volumes outlive the task that wrote them', async () => {
    const volumes = [{ name: `v${randomBytes(3).toString('hex')}`, mountPath: '/data' }];
    await withTask(s, s.shell('echo kept > /data/file', { volumes }), async (d, h) => {
      await d.start(h);
      expect(await d.wait(h)).toBe(0);
    });
    await withTask(s, s.shell('cat /data/file', { volumes }), async (d, h) => {
      await d.start(h);
      expect(await d.wait(h)).toBe(0);
      expect(await texts(d.logs(h))).toEqual(['kept']);
    });
  });
}

/** Follows the task's log until `text` appears; fails if the task ends first. */
async function untilLine(d: RuntimeDriver, h: TaskHandle, text: string): Promise<void> {
  for await (const line of d.logs(h, { follow: true })) if (line.text === text) return;
  throw new Error(`task ${h.taskId} ended without printing "${text}"`);
}

/** Every line `lines` yields, in order (a log read to its end). */
export async function collect(lines: AsyncIterable<LogLine>): Promise<LogLine[]> {
  const out: LogLine[] = [];
  for await (const l of lines) out.push(l);
  return out;
}

async function texts(lines: AsyncIterable<LogLine>): Promise<string[]> {
  return (await collect(lines)).map((l) => l.text);
}

import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { EXEC_OUTPUT_LIMIT, type LogLine, type RuntimeDriver, type TaskConfig, type TaskHandle } from './driver';

/**
 * What a driver's test file supplies besides the driver: an image and two host probes that
 * look at the machine directly, not through the driver, so the suite checks what really happened.
 */
export interface ConformanceFixture {
  /** An image with a busybox-like userland (sh, sleep, echo, cat, test, hostname). */
  readonly image: string;
  /** What is still on the host for this task after destroy (mounts, runtime state, cgroups, dirs…); [] when nothing. */
  leftovers(h: TaskHandle): Promise<string[]>;
  /** The memory limit the kernel enforces on the process `pid`, in bytes. */
  memoryLimitOf(pid: number): Promise<number>;
  /** Command lines (argv joined by spaces) of every process running alongside the task process `pid`. */
  processesOf(pid: number): Promise<string[]>;
}

const MiB = 1024 * 1024;

/**
 * Declares the shared driver test suite (vitest). `makeDriver` must return a new instance over
 * the same on-disk state on every call: the suite uses a second instance to play a restarted agent.
 * `fixture` is called inside the tests, so it may be filled in by the caller's beforeAll.
 */
export function runDriverConformance(name: string, makeDriver: () => RuntimeDriver, fixture: () => ConformanceFixture): void {
  const task = (command: string, extra: Partial<TaskConfig> = {}): TaskConfig => ({
    taskId: `conf.${randomBytes(3).toString('hex')}.${randomBytes(3).toString('hex')}`,
    service: 'conf',
    image: fixture().image,
    command: ['sh', '-c', command],
    env: {},
    resources: {},
    ports: [],
    volumes: [],
    stopGracePeriodMs: 2_000,
    ...extra,
  });

  /** Prepares a task, hands it to `body`, and always destroys it afterwards. */
  const withTask = async (config: TaskConfig, body: (d: RuntimeDriver, h: TaskHandle) => Promise<void>) => {
    const driver = makeDriver();
    const h = await driver.prepare(config);
    try {
      await body(driver, h);
    } finally {
      await driver.destroy(h);
    }
  };

  const running = async (d: RuntimeDriver, h: TaskHandle) => {
    const s = await d.inspect(h);
    if (s.state !== 'running') throw new Error(`expected a running task, got ${JSON.stringify(s)}`);
    return s.pid;
  };

  describe(`RuntimeDriver conformance: ${name}`, () => {
    it('prepares a task without running it, then reports its exit code', async () => {
      await withTask(task('exit 3'), async (d, h) => {
        expect(await d.inspect(h)).toEqual({ state: 'created' });
        await d.start(h);
        expect(await d.wait(h)).toBe(3);
        expect(await d.inspect(h)).toEqual({ state: 'exited', exitCode: 3 });
      });
    });

    it('prepare is idempotent', async () => {
      const config = task('exit 0');
      await withTask(config, async (d, h) => {
        expect(await d.prepare(config)).toEqual(h);
        expect(await d.inspect(h)).toEqual({ state: 'created' });
      });
    });

    it('stopping a prepared task that never started ends it without running it', async () => {
      await withTask(task('echo should-not-run'), async (d, h) => {
        await d.stop(h, { graceMs: 100 });
        expect((await d.inspect(h)).state).toMatch(/^(exited|gone)$/);
        expect(await texts(d.logs(h))).toEqual([]);
      });
    });

    it('a task that handles SIGTERM stops gracefully within the grace period', async () => {
      await withTask(task("trap 'exit 0' TERM; echo ready; while :; do sleep 0.1; done"), async (d, h) => {
        await d.start(h);
        // Only once the trap is installed: before that, SIGTERM to a namespace's init is dropped.
        await untilLine(d, h, 'ready');
        await d.stop(h, { graceMs: 10_000 });
        expect(await d.inspect(h)).toEqual({ state: 'exited', exitCode: 0 });
      });
    });

    it('a task ignoring SIGTERM is killed with SIGKILL after the grace period', async () => {
      await withTask(task("trap '' TERM; echo ready; while :; do sleep 0.1; done"), async (d, h) => {
        await d.start(h);
        await untilLine(d, h, 'ready');
        await d.stop(h, { graceMs: 300 });
        expect(await d.inspect(h)).toEqual({ state: 'exited', exitCode: 137 });
      });
    });

    it('destroy is idempotent and leaves nothing behind', async () => {
      const d = makeDriver();
      const h = await d.prepare(task('sleep 1000'));
      await d.start(h);
      await running(d, h);
      await d.destroy(h);
      await d.destroy(h);
      expect(await fixture().leftovers(h)).toEqual([]);
      expect(await d.inspect(h)).toEqual({ state: 'gone' });
      expect(await makeDriver().recover(h)).toBe('gone');
    });

    it('a restarted agent re-attaches to the running task (same pid) and can stop it', async () => {
      await withTask(task('sleep 1000'), async (d, h) => {
        await d.start(h);
        const pid = await running(d, h);
        const restarted = makeDriver();
        expect(await restarted.recover(JSON.parse(JSON.stringify(h)) as TaskHandle)).toBe('attached');
        expect(await restarted.inspect(h)).toEqual({ state: 'running', pid });
        await restarted.stop(h, { graceMs: 100 });
        expect((await restarted.inspect(h)).state).toBe('exited');
      });
    });

    it('exec runs a command inside the running task and returns its exit code and output', async () => {
      await withTask(task('echo ready; exec sleep 1000', { env: { GREETING: 'hello' } }), async (d, h) => {
        await d.start(h);
        await untilLine(d, h, 'ready');
        const r = await d.exec(h, ['sh', '-c', 'echo "$GREETING from $(hostname)"; echo oops >&2; exit 3'], { timeoutMs: 10_000 });
        expect(r).toMatchObject({ exitCode: 3, timedOut: false });
        expect(r.output.split('\n').sort()).toEqual([`hello from ${h.taskId}`, 'oops']);
        expect(await d.exec(h, ['true'], { timeoutMs: 10_000 })).toEqual({ exitCode: 0, timedOut: false, output: '' });
        const big = await d.exec(h, ['sh', '-c', 'i=0; while [ $i -lt 1000 ]; do echo 0123456789; i=$((i+1)); done'], { timeoutMs: 10_000 });
        expect(big.output.length).toBeLessThanOrEqual(EXEC_OUTPUT_LIMIT);
        expect(big.output.startsWith('0123456789\n0123456789')).toBe(true);
        const missing = await d.exec(h, ['no-such-program'], { timeoutMs: 10_000 });
        expect(missing.exitCode).not.toBe(0);
        expect(missing.output).toMatch(/no-such-program/);
      });
    });

    it('exec kills a command that misses its deadline, with all it started, and says it timed out', async () => {
      await withTask(task('echo ready; exec sleep 1000'), async (d, h) => {
        await d.start(h);
        await untilLine(d, h, 'ready');
        const pid = await running(d, h);
        const hung = ['sh', '-c', 'setsid sleep 301 & sleep 302 & echo started; sleep 303'];
        expect(await d.exec(h, hung, { timeoutMs: 500 })).toEqual({ timedOut: true, output: 'started' });
        const left = async () => (await fixture().processesOf(pid)).filter((p) => /sleep 30[123]|setsid/.test(p));
        expect(await left()).toEqual([]);
        // Aborting (the agent stopping the check) ends it the same way.
        const ctl = new AbortController();
        const aborted = d.exec(h, hung, { timeoutMs: 60_000, signal: ctl.signal });
        setTimeout(() => ctl.abort(new Error('check cancelled')), 300);
        await expect(aborted).rejects.toThrow('check cancelled');
        expect(await left()).toEqual([]);
        // The task itself was not touched.
        expect(await d.inspect(h)).toEqual({ state: 'running', pid });
      });
    });

    it('exec refuses a task that is not running', async () => {
      await withTask(task('exit 0'), async (d, h) => {
        await expect(d.exec(h, ['true'], { timeoutMs: 5_000 })).rejects.toThrow(h.taskId);
        await d.start(h);
        await d.wait(h);
        await expect(d.exec(h, ['true'], { timeoutMs: 5_000 })).rejects.toThrow(/not running/);
      });
    });

    it('enforces the memory limit on the task process', async () => {
      await withTask(task('sleep 1000', { resources: { memoryBytes: 64 * MiB, cpuMillis: 500, pids: 64 } }), async (d, h) => {
        await d.start(h);
        const pid = await running(d, h);
        expect(await fixture().memoryLimitOf(pid)).toBe(64 * MiB);
        const stats = await d.stats(h);
        expect(stats.memoryLimitBytes).toBe(64 * MiB);
        expect(stats.pids).toBeGreaterThanOrEqual(1);
      });
    });

    it('gives each task its own copy-on-write root filesystem', async () => {
      await withTask(task('echo secret > /marker && cat /marker'), async (d, first) => {
        await d.start(first);
        expect(await d.wait(first)).toBe(0);
        expect(await texts(d.logs(first))).toEqual(['secret']);
        await withTask(task('test -e /marker && echo visible || echo invisible'), async (d2, second) => {
          await d2.start(second);
          expect(await d2.wait(second)).toBe(0);
          expect(await texts(d2.logs(second))).toEqual(['invisible']);
        });
      });
    });

    it('keeps stdout and stderr lines, honours tail, and follows until the task exits', async () => {
      await withTask(task('echo one; echo two >&2; echo three; echo four'), async (d, h) => {
        await d.start(h);
        await d.wait(h);
        // The two streams are separate pipes: order is kept within a stream, not across them.
        const all = await collect(d.logs(h));
        expect(all.filter((l) => l.stream === 'stdout').map((l) => l.text)).toEqual(['one', 'three', 'four']);
        expect(all.filter((l) => l.stream === 'stderr').map((l) => l.text)).toEqual(['two']);
        expect(all.every((l) => !Number.isNaN(Date.parse(l.time)))).toBe(true);
        expect(await collect(d.logs(h, { tail: 2 }))).toEqual(all.slice(-2));
      });
      await withTask(task('for i in 1 2 3; do echo line$i; sleep 0.2; done'), async (d, h) => {
        await d.start(h);
        expect(await texts(d.logs(h, { follow: true }))).toEqual(['line1', 'line2', 'line3']);
      });
    });

    it('runs the task with its env on top of the image env, and the task id as hostname', async () => {
      const config = task('echo "$GREETING"; hostname; echo "$PATH"', { env: { GREETING: 'hello' } });
      await withTask(config, async (d, h) => {
        await d.start(h);
        expect(await d.wait(h)).toBe(0);
        const [greeting, hostname, path] = await texts(d.logs(h));
        expect(greeting).toBe('hello');
        expect(hostname).toBe(config.taskId);
        expect(path).toContain('/bin');
      });
    });

    it('named volumes outlive the task that wrote them', async () => {
      const volumes = [{ name: `v${randomBytes(3).toString('hex')}`, mountPath: '/data' }];
      await withTask(task('echo kept > /data/file', { volumes }), async (d, h) => {
        await d.start(h);
        expect(await d.wait(h)).toBe(0);
      });
      await withTask(task('cat /data/file', { volumes }), async (d, h) => {
        await d.start(h);
        expect(await d.wait(h)).toBe(0);
        expect(await texts(d.logs(h))).toEqual(['kept']);
      });
    });
  });
}

/** Follows the task's log until `text` appears; fails if the task ends first. */
async function untilLine(d: RuntimeDriver, h: TaskHandle, text: string): Promise<void> {
  for await (const line of d.logs(h, { follow: true })) if (line.text === text) return;
  throw new Error(`task ${h.taskId} ended without printing "${text}"`);
}

async function collect(lines: AsyncIterable<LogLine>): Promise<LogLine[]> {
  const out: LogLine[] = [];
  for await (const l of lines) out.push(l);
  return out;
}

async function texts(lines: AsyncIterable<LogLine>): Promise<string[]> {
  return (await collect(lines)).map((l) => l.text);
}

import { describe, expect, it } from 'vitest';
import { runDriverConformance, type ConformanceCommands } from '../conformance';
import type { TaskConfig } from '../driver';
import { HollowDriver, HollowHost } from './hollow-driver';
import { hollowCommand, IDLE, parseHollowCommand } from './hollow-program';

const HOLLOW_COMMANDS: ConformanceCommands = {
  command: (b) => hollowCommand(b),
  missing: ['hollow', 'no-such-program'],
  hang: { command: hollowCommand({ print: [['stdout', 'started']] }), traces: /out:started/ },
};

// One host shared by every driver instance: what a node's runtime state is across agent restarts.
const host = new HollowHost();
const makeDriver = () => new HollowDriver(host);

runDriverConformance(
  'hollow',
  makeDriver,
  () => ({
    image: 'oci:/nonexistent/hollow:1',
    leftovers: async (h) => (host.tasks.has(h.taskId) ? [`hollow task ${h.taskId}`] : []),
    processesOf: async (pid) => makeDriver().processesOf(pid),
  }),
  { commands: HOLLOW_COMMANDS, isolation: false, execStream: false },
);

const config = (taskId: string, command?: string[], extra: Partial<TaskConfig> = {}): TaskConfig => ({
  taskId,
  service: 'web',
  runtime: 'container',
  image: 'oci:/nonexistent/hollow:1',
  ...(command ? { command } : {}),
  env: {},
  resources: {},
  ports: [],
  volumes: [],
  stopGracePeriodMs: 1_000,
  ...extra,
});

describe('hollow driver', () => {
  it('runs any other command quietly until stopped, with a pid of its own, and counts the start', async () => {
    const d = new HollowDriver();
    const a = await d.prepare(config('web.1.a', ['httpd', '-f', '-p', '8080']));
    const b = await d.prepare(config('web.2.b'));
    await d.start(a);
    await d.start(b);
    const [sa, sb] = [await d.inspect(a), await d.inspect(b)];
    expect(sa.state === 'running' && sb.state === 'running' && sa.pid !== sb.pid).toBe(true);
    expect(d.host.starts).toBe(2);
    expect(await d.exec(a, ['wget', '-q', 'http://127.0.0.1:8080/'], { timeoutMs: 1_000 })).toEqual({ exitCode: 0, timedOut: false, output: '' });
    await d.stop(a, { graceMs: 1_000 });
    expect(await d.inspect(a)).toEqual({ state: 'exited', exitCode: 143 });
  });

  it('ends a task on demand, as if its process had exited', async () => {
    const d = new HollowDriver();
    const h = await d.prepare(config('web.1.a'));
    await d.start(h);
    const waited = d.wait(h);
    d.exit('web.1.a', 3);
    expect(await waited).toBe(3);
  });

  it('reports the memory limit and one pid as stats; none once gone', async () => {
    const d = new HollowDriver();
    const h = await d.prepare(config('web.1.a', undefined, { resources: { memoryBytes: 64 * 1024 ** 2 } }));
    await d.start(h);
    expect(await d.stats(h)).toEqual({
      cpuUsageSeconds: 0,
      cpuThrottledSeconds: 0,
      memoryUsageBytes: 0,
      memoryWorkingSetBytes: 0,
      memoryRssBytes: 0,
      memoryLimitBytes: 64 * 1024 ** 2,
      pids: 1,
      oomKills: 0,
    });
    await d.destroy(h);
    await expect(d.stats(h)).rejects.toThrow('web.1.a');
  });

  it('refuses a malformed hollow command at prepare, saying what is wrong', async () => {
    await expect(new HollowDriver().prepare(config('web.1.a', ['hollow', 'run', '--exit', 'soon']))).rejects.toThrow(
      'task web.1.a: hollow run: --exit wants a whole number (got "soon")',
    );
  });

  it('ends a followed log when its task is destroyed', async () => {
    const d = new HollowDriver();
    const h = await d.prepare(config('web.1.a', hollowCommand({ print: [['stdout', 'hi']] })));
    await d.start(h);
    const lines: string[] = [];
    const reading = (async () => {
      for await (const l of d.logs(h, { follow: true })) lines.push(l.text);
    })();
    await new Promise((r) => setTimeout(r, 20));
    expect(d.host.openFollows).toBe(1);
    await d.destroy(h);
    await reading;
    expect(lines).toEqual(['hi']);
    expect(d.host.openFollows).toBe(0);
  });
});

describe('hollow programs', () => {
  it('reads what hollowCommand writes', () => {
    const p = { print: [['stdout', 'a b'], ['stderr', 'c:d']] as const, everyMs: 5, exit: 2, onTerm: 'ignore' as const };
    expect(parseHollowCommand(hollowCommand(p))).toEqual({ ok: true, program: { ...p, print: [['stdout', 'a b'], ['stderr', 'c:d']] } });
    expect(parseHollowCommand(['sleep', '1000'])).toEqual({ ok: true, program: IDLE });
    expect(parseHollowCommand(undefined)).toEqual({ ok: true, program: IDLE });
  });

  it('says what is wrong with a malformed one', () => {
    expect(parseHollowCommand(['hollow', 'sleep'])).toEqual({ ok: false, error: 'hollow: sleep: no such command (only "hollow run")' });
    expect(parseHollowCommand(['hollow', 'run', '--print', 'stdout:x'])).toMatchObject({ ok: false, error: expect.stringContaining('out:TEXT or err:TEXT') });
    expect(parseHollowCommand(['hollow', 'run', '--every'])).toEqual({ ok: false, error: 'hollow run: --every needs a value' });
    expect(parseHollowCommand(['hollow', 'run', '--loud', 'yes'])).toEqual({ ok: false, error: 'hollow run: unknown option --loud' });
  });
});

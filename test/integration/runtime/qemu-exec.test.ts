import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { ImageStore, QemuDriver, type ExecProcess, type TaskHandle } from '@berth/runtime';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { EXEC_SLOTS } from '../../../libs/runtime/src/qemu/guest-protocol';
import { requireTools } from '../../support/prereq';
import { buildBusyboxLayout, cleanUpNode, mountsUnder } from './host';

// Commands run inside a VM's guest (exec for health checks, execStream for `berth exec`), all in
// one VM: booting one under TCG takes 5–10 s and a full CPU. The workload runs as nobody in
// /srv/app with an environment of its own, which every exec must get too.
const ready = requireTools(['qemu-system-x86_64', 'umoci', 'skopeo', 'busybox', 'mount', 'nsenter'], { root: true });
const run = promisify(execFile);

describe.runIf(ready)('qemu driver: commands inside the guest', () => {
  const node = `vx${randomBytes(3).toString('hex')}`;
  let dataDir = '';
  let driver: QemuDriver;
  let h: TaskHandle;
  let qemu = 0;

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'berth-vm-exec-'));
    const layout = join(dataDir, 'busybox-layout');
    await buildBusyboxLayout(layout, '1');
    // The same image, run as nobody in a workdir the image does not have.
    await run('umoci', ['config', '--image', `${layout}:1`, '--tag', 'nobody', '--config.user', '65534:65534', '--config.workingdir', '/srv/app']);
    driver = new QemuDriver({ node, dataDir, images: new ImageStore({ dir: join(dataDir, 'images') }) });
    const taskId = `vmexec.1.${randomBytes(3).toString('hex')}`;
    h = await driver.prepare({
      taskId,
      service: 'vmexec',
      runtime: 'vm',
      image: `oci:${layout}:nobody`,
      command: ['sh', '-c', 'echo ready; exec sleep 100000'],
      env: { GREETING: "it's the task's" },
      resources: {},
      ports: [],
      volumes: [],
      stopGracePeriodMs: 1_000,
    });
    const t0 = Date.now();
    await driver.start(h);
    const status = await driver.inspect(h);
    if (status.state !== 'running') throw new Error(`the VM is ${status.state}`);
    qemu = status.pid;
    console.log(`qemu exec: VM running ${Date.now() - t0} ms after start`);
  });

  afterAll(async () => {
    if (!dataDir) return;
    try {
      if (h) await driver.destroy(h);
      if (qemu) expect(await runs(qemu)).toBe(false);
      expect(await mountsUnder(dataDir)).toEqual([]);
    } finally {
      await cleanUpNode({ runcRoot: join(dataDir, 'no-runc'), node, dataDir });
    }
  });

  /** The guest's processes running `re` (busybox ps in the guest, through exec). */
  async function guestProcesses(re: string): Promise<string[]> {
    const r = await driver.exec(h, ['sh', '-c', `ps -o args | grep -E '${re}' | grep -v grep; true`], { timeoutMs: 30_000 });
    return r.output.split('\n').filter(Boolean);
  }

  it('exec returns the exit code and both streams, and says when a command is not there', async () => {
    const r = await driver.exec(h, ['sh', '-c', 'echo to-stdout; echo to-stderr >&2; exit 3'], { timeoutMs: 30_000 });
    expect(r).toMatchObject({ exitCode: 3, timedOut: false });
    expect(r.output.split('\n').sort()).toEqual(['to-stderr', 'to-stdout']);
    expect(await driver.exec(h, ['true'], { timeoutMs: 30_000 })).toEqual({ exitCode: 0, timedOut: false, output: '' });
    const missing = await driver.exec(h, ['no-such-program', 'x'], { timeoutMs: 30_000 });
    expect(missing).toEqual({ exitCode: 127, timedOut: false, output: 'berth-exec: no-such-program: executable file not found in PATH' });
    const notExecutable = await driver.exec(h, ['/etc/passwd'], { timeoutMs: 30_000 });
    expect(notExecutable).toMatchObject({ exitCode: 126, output: expect.stringMatching(/Permission denied/) });

    const times: number[] = [];
    for (let i = 0; i < 5; i++) {
      const t0 = process.hrtime.bigint();
      await driver.exec(h, ['true'], { timeoutMs: 30_000 });
      times.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    console.log(`qemu exec: \`true\` round trips ${times.map((t) => t.toFixed(0)).join(', ')} ms`);
  });

  it('exec runs as the workload: its environment, user, workdir and host name, in a kernel of its own', async () => {
    const r = await driver.exec(h, ['sh', '-c', 'echo "$GREETING|$(id -u):$(id -g)|$(pwd)|$(hostname)|$HOME"'], { timeoutMs: 30_000 });
    expect(r).toEqual({ exitCode: 0, timedOut: false, output: `it's the task's|65534:65534|/srv/app|${h.taskId}|` });
    const bootId = await driver.exec(h, ['cat', '/proc/sys/kernel/random/boot_id'], { timeoutMs: 30_000 });
    expect(bootId.output).toMatch(/^[0-9a-f-]{36}$/);
    expect(bootId.output).not.toBe((await readFile('/proc/sys/kernel/random/boot_id', 'utf8')).trim());
    // What it sees is the workload's tree: not the initramfs, not the host.
    expect((await driver.exec(h, ['ls', '/'], { timeoutMs: 30_000 })).output.split('\n')).toEqual(expect.arrayContaining(['bin', 'etc', 'srv', 'proc']));
    expect((await driver.exec(h, ['ls', '/berth', '/newroot'], { timeoutMs: 30_000 })).exitCode).not.toBe(0);
  });

  it('exec kills a command that misses its deadline, with everything it started', async () => {
    const hang = ['sh', '-c', 'setsid sleep 301 & sleep 302 & echo started; sleep 303'];
    const t0 = Date.now();
    expect(await driver.exec(h, hang, { timeoutMs: 3_000 })).toEqual({ timedOut: true, output: 'started' });
    console.log(`qemu exec: deadline of 3000 ms, exec returned after ${Date.now() - t0} ms`);
    expect(await guestProcesses('^sleep 30[123]')).toEqual([]);
    const ctl = new AbortController();
    const aborted = driver.exec(h, hang, { timeoutMs: 60_000, signal: ctl.signal });
    setTimeout(() => ctl.abort(new Error('check cancelled')), 2_000);
    await expect(aborted).rejects.toThrow('check cancelled');
    expect(await guestProcesses('^sleep 30[123]')).toEqual([]);
    expect(await driver.inspect(h)).toEqual({ state: 'running', pid: qemu });
  });

  it('execStream passes stdin through to its end and keeps stdout and stderr apart', async () => {
    const data = randomBytes(300 * 1024);
    const cat = await driver.execStream(h, ['cat'], { tty: false });
    const out = collect(cat.stdout);
    cat.stdin.end(data);
    expect(await cat.exited).toBe(0);
    expect((await out).equals(data)).toBe(true);

    const sh = await driver.execStream(h, ['sh', '-c', 'read x; echo "got $x"; echo oops >&2; exit 5'], { tty: false });
    sh.stdin.write('abc\n');
    expect(await outcome(sh)).toEqual({ stdout: 'got abc\n', stderr: 'oops\n', code: 5 });
  });

  it('execStream does not buffer: a command whose output is not read waits for its reader', async () => {
    const p = await driver.execStream(h, ['sh', '-c', 'head -c 8388608 /dev/zero; echo wrote-all >&2'], { tty: false });
    onTestFinished(() => p.kill());
    const stderr = watch(p.stderr);
    await sleep(2_000);
    // 8 MiB is far more than the fifo, the port's queue and the socket hold: head still writes.
    expect(await guestProcesses('head -c 8388608')).not.toEqual([]);
    expect(stderr.text()).toBe('');
    let bytes = 0;
    const t0 = Date.now();
    p.stdout.on('data', (chunk: Buffer) => (bytes += chunk.length));
    expect(await p.exited).toBe(0);
    console.log(`qemu exec: 8 MiB of stdout in ${Date.now() - t0} ms`);
    expect(bytes).toBe(8 * 1024 * 1024);
    expect(await stderr.all).toBe('wrote-all\n');
  });

  it('execStream with a tty: a terminal of the given size that resize changes, the exit code, Ctrl-D as end of input', async () => {
    const script = 'test -t 0 && test -t 1 && tty; read x; stty size; read x; stty size; cat; exit 3';
    const p = await driver.execStream(h, ['sh', '-c', script], { tty: true, size: { rows: 30, cols: 100 } });
    const stdout = watch(p.stdout);
    const stderr = collect(p.stderr);
    await stdout.until(/^\/dev\/pts\/\d+\r\n/);
    p.stdin.write('a\n');
    await stdout.until(/30 100/);
    await p.resize({ rows: 50, cols: 120 });
    p.stdin.write('b\n');
    await stdout.until(/50 120/);
    // 0xff is telnet's IAC, CR its line end: both reach the terminal as they were.
    p.stdin.end(Buffer.from('typed\xff\r', 'latin1'));
    expect(await p.exited).toBe(3);
    const text = await stdout.all;
    // The terminal echoes what is typed, and cat gives it back; ends with what cat printed.
    expect(text).toMatch(/50 120\r\ntyped\xff\r\n/);
    expect(text.endsWith('typed\xff\r\n')).toBe(true);
    expect((await stderr).length).toBe(0);

    const missing = await driver.execStream(h, ['no-such-program'], { tty: true });
    expect(await outcome(missing)).toEqual({ stdout: 'berth-exec: no-such-program: executable file not found in PATH\r\n', stderr: '', code: 127 });
  });

  it('execStream kill ends the command and everything it started, with or without a tty', async () => {
    for (const tty of [false, true]) {
      const p = await driver.execStream(h, ['sh', '-c', 'setsid sleep 301 & sleep 302 & echo started; sleep 303'], { tty });
      const stdout = watch(p.stdout);
      void collect(p.stderr);
      await stdout.until(/started/);
      expect(await guestProcesses('^sleep 30[123]')).toHaveLength(3);
      await Promise.all([p.kill(), p.kill()]);
      expect(await p.exited).toBe(137);
      expect(await guestProcesses('^sleep 30[123]')).toEqual([]);
    }
  });

  it(`execStream runs ${EXEC_SLOTS} commands at once, each with its own streams, and refuses one more`, async () => {
    const procs: ExecProcess[] = [];
    onTestFinished(() => Promise.all(procs.map((p) => p.kill())).then(() => undefined));
    for (let i = 0; i < EXEC_SLOTS; i++) procs.push(await driver.execStream(h, ['sh', '-c', 'read x; echo "$x-$$"'], { tty: i % 2 === 1 }));
    await expect(driver.execStream(h, ['true'], { tty: false })).rejects.toThrow(`task ${h.taskId}: exec failed: ${EXEC_SLOTS} commands already run in this VM`);
    const outputs = procs.map((p) => watch(p.stdout));
    // Answered in reverse order: none waits for another.
    for (let i = EXEC_SLOTS - 1; i >= 0; i--) {
      procs[i]!.stdin.write(`line${i}\n`);
      await outputs[i]!.until(new RegExp(`line${i}-\\d+`));
    }
    expect(await Promise.all(procs.map((p) => p.exited))).toEqual(procs.map(() => 0));
    // A slot is free again once its command ended.
    expect(await driver.exec(h, ['echo', 'free'], { timeoutMs: 30_000 })).toEqual({ exitCode: 0, timedOut: false, output: 'free' });
  });

  it('leaves the workload, its log and the task share as they were', async () => {
    expect(await driver.inspect(h)).toEqual({ state: 'running', pid: qemu });
    const logs: string[] = [];
    for await (const l of driver.logs(h)) logs.push(l.text);
    expect(logs).toEqual(['ready']);
    expect(await readdir(join(h.dir, 'share', 'exec'))).toEqual([]);
    expect((await readdir(h.dir)).filter((f) => f.endsWith('.claim'))).toEqual([]);
  });
});

/** Whether `pid` runs (a zombie does not). */
async function runs(pid: number): Promise<boolean> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  return stat !== '' && !/^[ZX]/.test(stat.slice(stat.lastIndexOf(')') + 2));
}

/** Everything `stream` yields, once it ended. */
function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  return new Promise((resolve, reject) => {
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.once('end', () => resolve(Buffer.concat(chunks)));
    stream.once('error', reject);
  });
}

async function outcome(p: ExecProcess): Promise<{ stdout: string; stderr: string; code: number }> {
  const [stdout, stderr, code] = await Promise.all([collect(p.stdout), collect(p.stderr), p.exited]);
  return { stdout: stdout.toString('latin1'), stderr: stderr.toString('latin1'), code };
}

/** `stream` as latin1 text so far (`until` waits for a match) and in full (`all`). */
function watch(stream: Readable): { text(): string; until(re: RegExp): Promise<void>; readonly all: Promise<string> } {
  let text = '';
  let ended = false;
  const waiters = new Set<() => void>();
  stream.on('data', (c: Buffer) => {
    text += c.toString('latin1');
    for (const w of [...waiters]) w();
  });
  const all = new Promise<string>((resolve) =>
    stream.once('end', () => {
      ended = true;
      resolve(text);
      for (const w of [...waiters]) w();
    }),
  );
  return {
    text: () => text,
    all,
    until: (re) =>
      new Promise((resolve, reject) => {
        const check = (): void => {
          if (re.test(text)) {
            waiters.delete(check);
            resolve();
          } else if (ended) {
            waiters.delete(check);
            reject(new Error(`the stream ended without ${re}: ${JSON.stringify(text)}`));
          }
        };
        waiters.add(check);
        check();
      }),
  };
}

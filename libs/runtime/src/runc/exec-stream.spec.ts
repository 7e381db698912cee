import { existsSync } from 'node:fs';
import { chmod, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFailure, runcExecStream } from './exec-stream';
import { RuncCli } from './runc-cli';

describe('execFailure', () => {
  it.each([
    [
      'time="2026-12-05T07:31:09Z" level=error msg="exec failed: unable to start container process: exec: \\"nosuch\\": executable file not found in $PATH"',
      127,
      'berth exec: "nosuch": executable file not found in $PATH',
    ],
    [
      'time="2026-12-05T07:31:09Z" level=error msg="exec failed: unable to start container process: exec: \\"/bin/x\\": stat /bin/x: no such file or directory"',
      127,
      'berth exec: "/bin/x": stat /bin/x: no such file or directory',
    ],
    ['time="2026-12-05T07:31:13Z" level=error msg="exec failed: unable to start container process: exec: \\"/tmp/f\\": permission denied"', 126, 'berth exec: "/tmp/f": permission denied'],
    // What runc prints on the terminal script gives it (exec -t): logrus's coloured form.
    ['\x1b[31mERRO\x1b[0m[0000] exec failed: unable to start container process: exec: "nosuch": executable file not found in $PATH \n', 127, 'berth exec: "nosuch": executable file not found in $PATH'],
    ['time="2026-12-05T07:31:13Z" level=error msg="cannot exec in a stopped container"', 126, 'berth exec: cannot exec in a stopped container'],
  ])('explains %j', (output, exitCode, message) => {
    expect(execFailure(output)).toEqual({ exitCode, message });
  });
});

// A stand-in for `runc --root=R exec [-t] --pid-file F ID ARGV…` that runs ARGV on the host: a
// session leader whose pid is in F, a child of "runc", on runc's own stdio (script's terminal
// with -t). It tests the plumbing around runc; the conformance suite runs the real one.
const FAKE_RUNC = `#!/bin/sh
while [ $# -gt 0 ]; do
  case "$1" in
    --root=*|exec|-t) shift ;;
    --pid-file) pidfile=$2; shift 2 ;;
    *) break ;;
  esac
done
shift
if ! command -v "$1" >/dev/null 2>&1; then
  echo "time=\\"2026-12-05T07:31:09Z\\" level=error msg=\\"exec failed: unable to start container process: exec: \\\\\\"$1\\\\\\": executable file not found in \\$PATH\\"" >&2
  exit 255
fi
# A background command gets /dev/null as stdin unless told otherwise.
exec 3<&0
setsid sh -c 'echo $$ > "$0"; exec "$@"' "$pidfile" "$@" <&3 3<&- &
wait $!
`;

describe.runIf(existsSync('/usr/bin/script') && existsSync('/usr/bin/setsid'))('runcExecStream (with a stand-in for runc)', () => {
  let dir = '';
  let runc: RuncCli;
  const pidFile = () => join(dir, `exec-${Math.random().toString(16).slice(2)}.pid`);

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-exec-stream-'));
    await writeFile(join(dir, 'runc'), FAKE_RUNC);
    await chmod(join(dir, 'runc'), 0o755);
    runc = new RuncCli(join(dir, 'runc'), join(dir, 'state'), 10_000);
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  // Sleeps of a length nothing else on the host runs.
  const nap = 40_000 + Math.floor(Math.random() * 10_000);
  /** Command lines of processes still around from this suite (its pid files are in every runc's). */
  const leftovers = async (): Promise<string[]> => {
    const lines = await Promise.all((await readdir('/proc')).filter((e) => /^\d+$/.test(e)).map((p) => readFile(`/proc/${p}/cmdline`, 'utf8').catch(() => '')));
    return lines.map((l) => l.replace(/\0/g, ' ')).filter((l) => l.includes(dir) || l.includes(`sleep ${nap}`));
  };
  const pidFiles = async () => (await readdir(dir)).filter((f) => f.endsWith('.pid'));

  it('pipes stdin to the command and its stdout and stderr back apart, then gives its exit code', async () => {
    const p = await runcExecStream(runc, 'c1', ['sh', '-c', 'read x; echo "got $x"; echo oops >&2; exit 3'], { tty: false, pidFile: pidFile() });
    p.stdin.end('abc\n');
    const [out, err, code] = await Promise.all([text(p.stdout), text(p.stderr), p.exited]);
    expect({ out, err, code }).toEqual({ out: 'got abc\n', err: 'oops\n', code: 3 });
    expect(await pidFiles()).toEqual([]);
  });

  it('keeps the output of a command that ended before anyone read it', async () => {
    const p = await runcExecStream(runc, 'c1', ['sh', '-c', 'echo fast; echo err >&2'], { tty: false, pidFile: pidFile() });
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await Promise.all([text(p.stdout), text(p.stderr), p.exited])).toEqual(['fast\n', 'err\n', 0]);
  });

  it('a command that cannot start ends with 127 and one line saying why, on stderr (stdout with a tty)', async () => {
    const p = await runcExecStream(runc, 'c1', ['no-such-program'], { tty: false, pidFile: pidFile() });
    expect(await Promise.all([text(p.stdout), text(p.stderr), p.exited])).toEqual(['', 'berth exec: "no-such-program": executable file not found in $PATH\n', 127]);
    const t = await runcExecStream(runc, 'c1', ['no-such-program'], { tty: true, pidFile: pidFile() });
    expect(await Promise.all([text(t.stdout), text(t.stderr), t.exited])).toEqual(['berth exec: "no-such-program": executable file not found in $PATH\r\n', '', 127]);
  });

  it('gives the command a terminal of the asked size and resizes it', async () => {
    const p = await runcExecStream(runc, 'c1', ['sh', '-c', 'test -t 0 && echo tty; stty size; read x; stty size'], { tty: true, size: { rows: 30, cols: 100 }, pidFile: pidFile() });
    const out = text(p.stdout);
    await until(p.stdout, /30 100/);
    await p.resize({ rows: 50, cols: 120 });
    p.stdin.write('go\n');
    expect(await p.exited).toBe(0);
    expect(await out).toMatch(/^tty\r?\n30 100\r?\n(go\r?\n)?50 120\r?\n$/);
    expect(await leftovers()).toEqual([]);
  });

  it.each([false, true])('kill (tty %s) ends the command and all it started, and leaves no process or pid file', async (tty) => {
    const p = await runcExecStream(runc, 'c1', ['sh', '-c', `sleep ${nap} & echo started; exec sleep ${nap}`], { tty, pidFile: pidFile() });
    await until(p.stdout, /started/);
    await p.kill();
    expect(await leftovers()).toEqual([]);
    expect(await pidFiles()).toEqual([]);
    await p.kill();
    expect(await p.exited).toBe(137);
  });

  it('says so when runc is not installed', async () => {
    const missing = new RuncCli(join(dir, 'no-runc'), join(dir, 'state'));
    await expect(runcExecStream(missing, 'c1', ['true'], { tty: false, pidFile: pidFile() })).rejects.toThrow(/task c1: exec failed: .*no-runc is not installed/);
  });

  it('refuses a terminal size the kernel would not take, before anything runs', async () => {
    await expect(runcExecStream(runc, 'c1', ['true'], { tty: true, size: { rows: 0, cols: 1e6 }, pidFile: pidFile() })).rejects.toThrow(/terminal size/);
    expect(await leftovers()).toEqual([]);
  });
});

/** Everything `stream` yields, as text, once it ended. */
function text(stream: Readable): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    stream.setEncoding('utf8');
    stream.on('data', (c: string) => (out += c)).once('end', () => resolve(out)).once('error', reject);
  });
}

/** Resolves once what `stream` yielded so far matches `re` (another reader must keep it flowing). */
function until(stream: Readable, re: RegExp): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const onData = (c: Buffer | string): void => {
      seen += c.toString();
      if (re.test(seen)) {
        stream.off('data', onData);
        resolve();
      }
    };
    stream.on('data', onData).once('end', () => reject(new Error(`ended without ${re}: ${JSON.stringify(seen)}`)));
  });
}

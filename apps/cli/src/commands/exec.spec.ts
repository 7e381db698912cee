import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { PassThrough } from 'node:stream';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { EXEC_UPGRADE, ExecFrameDecoder, ExecFrameType, encodeExecFrame, type ExecWireFrame } from '@berth/api';
import type { RawStdio } from '../context';
import { berth, json, StandIn } from '../__fixtures__/stand-in';

/** stdio doubles: what the command writes lands in `out`/`err`; `in` is what the user types. */
function stdio(): RawStdio & { in: PassThrough; out: () => string; err: () => string } {
  const stdin = new PassThrough();
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (d: Buffer) => (out += d.toString()));
  stderr.on('data', (d: Buffer) => (err += d.toString()));
  return { stdin, stdout, stderr, in: stdin, out: () => out, err: () => err };
}

/** A control plane double that upgrades exec requests and plays `script` on the stream. */
class ExecServer {
  private server?: Server;
  url = '';
  requests: string[] = [];
  received: ExecWireFrame[] = [];
  script: (socket: Socket, frames: ExecWireFrame[]) => void = () => undefined;

  async start(): Promise<void> {
    this.server = createServer((_req, res) => res.writeHead(500).end());
    this.server.on('upgrade', (req: IncomingMessage, socket: Socket) => {
      this.requests.push(`${req.method} ${req.url} upgrade=${req.headers.upgrade}`);
      socket.write(`HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: ${EXEC_UPGRADE}\r\n\r\n`);
      const decoder = new ExecFrameDecoder();
      socket.on('data', (d: Buffer) => {
        this.received.push(...decoder.push(d));
        this.script(socket, this.received);
      });
      this.script(socket, this.received);
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise((resolve) => this.server?.close(resolve));
  }
}

const api = new StandIn();
const exec = new ExecServer();
beforeAll(() => Promise.all([api.start(), exec.start()]));
afterAll(() => Promise.all([api.stop(), exec.stop()]));
afterEach(() => {
  api.reset();
  exec.requests = [];
  exec.received = [];
});

describe('berth exec', () => {
  it('relays stdin, stdout and stderr, and exits with the command’s code', async () => {
    const io = stdio();
    io.in.end('typed');
    exec.script = (socket, frames) => {
      if (!frames.some((f) => f.type === ExecFrameType.stdinClose)) return;
      const typed = Buffer.concat(frames.filter((f) => f.type === ExecFrameType.stdin).map((f) => f.payload)).toString();
      socket.write(encodeExecFrame(ExecFrameType.stdout, `got ${typed}`));
      socket.write(encodeExecFrame(ExecFrameType.stderr, 'oops'));
      socket.end(encodeExecFrame(ExecFrameType.exit, JSON.stringify({ exitCode: 7 })));
    };
    const run = await berth(exec.url, ['exec', '-i', 'web.1', '--', 'sh', '-c', 'cat'], { rawStdio: io });
    expect(run.code).toBe(7);
    expect(io.out()).toBe('got typed');
    expect(io.err()).toBe('oops');
    expect(exec.requests).toEqual([`POST /api/v1/tasks/web.1/exec?command=sh&command=-c&command=cat&stdin=true upgrade=${EXEC_UPGRADE}`]);
  });

  it('without -i sends no stdin; an error frame is berth’s error (exit 1)', async () => {
    const io = stdio();
    io.in.end('never sent');
    exec.script = (socket) => socket.end(encodeExecFrame(ExecFrameType.error, JSON.stringify({ code: 'CONFLICT', detail: 'node n1 disconnected' })));
    const run = await berth(exec.url, ['exec', 'web.1', '--', 'true'], { rawStdio: io });
    expect(run).toMatchObject({ code: 1, err: expect.stringMatching(/node n1 disconnected/) });
    expect(exec.received.filter((f) => f.type === ExecFrameType.stdin)).toEqual([]);
  });

  it('a connection lost before the exit is an error, not a success', async () => {
    exec.script = (socket) => socket.destroy();
    const run = await berth(exec.url, ['exec', 'web.1', '--', 'true'], { rawStdio: stdio() });
    expect(run).toMatchObject({ code: 1, err: expect.stringMatching(/lost before the command ended/) });
  });

  it('says why the server refused, before any byte of the command', async () => {
    api.on('POST /api/v1/tasks/web.1.a/exec?command=true', json(409, { code: 'CONFLICT', detail: 'task web.1.a is complete, not running' }));
    expect(await berth(api.url, ['exec', 'web.1.a', '--', 'true'], { rawStdio: stdio() })).toMatchObject({ code: 1, err: 'error: task web.1.a is complete, not running' });
    expect(await berth(api.url, ['exec', 'web.1.a'], { rawStdio: stdio() })).toMatchObject({ code: 2, err: expect.stringMatching(/missing required argument 'command'/) });
  });
});

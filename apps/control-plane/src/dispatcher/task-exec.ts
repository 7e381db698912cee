import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { Inject, Injectable, Optional } from '@nestjs/common';
import { ConflictError, NotFoundError, UnavailableError, ValidationError, type NewEvent } from '@berth/core';
import { EXEC_UPGRADE, ExecFrameDecoder, ExecFrameType, MAX_EXEC_PAYLOAD, encodeExecFrame, parseExecRequest, parseTerminalSize, type ExecRequest } from '@berth/api';
import type { StoreReads, TaskRecord } from '@berth/store';
import { problem, toProblem, type Problem } from '../http/problem';
import type { MemberList } from '../infra.module';
import { authenticate, permit } from '../http/access';
import { auditEvent } from '../http/audit';
import type { IdentityDeps } from '../identity/identity';
import { TokenService } from '../identity/tokens.service';
import { IDENTITY, MEMBERS, STORE_READS } from '../tokens';
import { Dispatcher } from './dispatcher';
import { FORWARDED_HEADER, forwardUpgrade } from './peer-forward';
import type { ExecOutcome, RemoteExec } from './remote-exec';

const EXEC_PATH = /^\/api\/v1\/tasks\/([^/?]+)\/exec$/;
const SLOT_REF = /^([a-z0-9](?:[-a-z0-9]*[a-z0-9])?)\.(\d+)$/;

/**
 * `POST /api/v1/tasks/:id/exec` (docs/api.md, "berth exec"): an HTTP upgrade to a framed byte
 * stream (@berth/api exec-wire) bridged to a command relayed over the session of the task's
 * node — or, when another replica holds that session, spliced through to that replica.
 * Everything that can be refused is refused before `101 Switching Protocols`, as a problem
 * document; after it the stream ends with an exit or an error frame.
 */
@Injectable()
export class TaskExecs {
  constructor(
    @Inject(STORE_READS) private readonly store: StoreReads,
    private readonly dispatcher: Dispatcher,
    private readonly tokens: TokenService,
    @Inject(IDENTITY) private readonly identity: IdentityDeps,
    @Optional() @Inject(MEMBERS) private readonly members?: MemberList,
  ) {}

  private audit(event: NewEvent): Promise<void> {
    return this.identity.store.recordEvents([event]).catch((e: unknown) => {
      process.stderr.write(`berth api: could not record the audit event of an exec: ${(e as Error).message}\n`);
    });
  }

  /** The http server's `upgrade` event. Answers every upgrade request: unknown paths get a 404. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => undefined); // a client gone mid-answer is not this server's failure
    void this.upgrade(req, socket, head).catch((e: unknown) => refuse(socket, toProblem(e)));
  }

  private async upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://berth');
    const path = EXEC_PATH.exec(url.pathname);
    if (!path) return refuse(socket, problem('NOT_FOUND', `no upgrade at ${url.pathname}`));
    // Outside Nest's routes, so outside its guard: the same check, by hand.
    const caller = await authenticate(this.tokens, req.headers.authorization);
    try {
      permit(caller, 'deployer');
    } catch (e) {
      await this.audit(auditEvent({ caller, method: req.method ?? 'POST', url: req.url ?? '', status: 403 }));
      throw e;
    }
    if (req.method !== 'POST') return refuse(socket, problem('INVALID', `use POST for ${url.pathname}`));
    if (req.headers.upgrade?.toLowerCase() !== EXEC_UPGRADE) {
      return refuse(socket, problem('INVALID', `ask for "Upgrade: ${EXEC_UPGRADE}" (got "${req.headers.upgrade ?? ''}")`));
    }
    const parsed = parseExecRequest(url.searchParams);
    if ('problems' in parsed) throw new ValidationError(parsed.problems.map((p) => ({ path: p.split(':')[0]!, message: p.slice(p.indexOf(':') + 2) })));
    const task = await this.resolve(decodeURIComponent(path[1]!));
    const session = this.dispatcher.registry.get(task.nodeName!);
    if (!session) {
      // Another replica may hold the node's session: it gets the request (once; it does not pass it on).
      if (!req.headers[FORWARDED_HEADER] && (await forwardUpgrade(req, socket, head, await this.peers(), this.members?.self ?? 'unknown', this.identity.ca.certPem))) return;
      throw new UnavailableError(`node ${task.nodeName} of task ${task.id} is not connected${this.members ? ' to any control-plane replica' : ''}`);
    }
    if (socket.destroyed) return;
    // The replica that runs the command records it (a forwarding one does not).
    await this.audit(auditEvent({ caller, method: req.method ?? 'POST', url: req.url ?? '', status: 101 }));
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: ${EXEC_UPGRADE}\r\nBerth-Task: ${task.id}\r\n\r\n`);
    const exec = session.openExec(task.id, { command: parsed.command, tty: parsed.tty, ...(parsed.size ? { size: parsed.size } : {}) });
    bridge(socket, head, exec, parsed);
  }

  /** The API URLs of the other replicas announced now. */
  private async peers(): Promise<string[]> {
    if (!this.members) return [];
    const self = this.members.self;
    return (await this.members.list()).filter((m) => m.id !== self).map((m) => m.apiUrl);
  }

  /** A task id, or SERVICE.SLOT for the task running in that slot now; refused unless it runs. */
  async resolve(ref: string): Promise<TaskRecord> {
    const slot = SLOT_REF.exec(ref);
    if (!slot) {
      const task = await this.store.getTask(ref);
      if (!task) throw new NotFoundError('task', ref);
      return runningOrRefused(task);
    }
    const [, service, n] = slot;
    const inSlot = (await this.store.listTasks(service)).filter((t) => t.slot === Number(n));
    if (inSlot.length === 0) throw new NotFoundError('task', ref, `service ${service} has no task in slot ${n}`);
    const running = inSlot.find((t) => t.status.state === 'running' && t.nodeName);
    if (running) return running;
    const latest = inSlot.sort((a, b) => b.createdAt.localeCompare(a.createdAt))[0]!;
    return runningOrRefused(latest);
  }
}

function runningOrRefused(task: TaskRecord): TaskRecord {
  if (task.status.state !== 'running' || !task.nodeName) {
    throw new ConflictError(`task ${task.id} is ${task.status.state}, not running: commands run only in a running task`);
  }
  return task;
}

/** Answers an upgrade request with a problem document and closes the connection. */
function refuse(socket: Duplex, p: Problem): void {
  if (socket.destroyed) return;
  const body = JSON.stringify(p);
  socket.end(
    `HTTP/1.1 ${p.status} ${p.title}\r\n${p.status === 401 ? 'WWW-Authenticate: Bearer realm="berth"\r\n' : ''}Content-Type: application/problem+json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

/**
 * Joins the client's socket and the relayed command. stdin is held only while the agent has no
 * room for it, and the socket is paused meanwhile; output credit goes back to the agent once the
 * socket has taken the bytes, so a slow reader stops the command instead of growing memory here.
 */
function bridge(socket: Duplex, head: Buffer, exec: RemoteExec, request: ExecRequest): void {
  const decoder = new ExecFrameDecoder();
  /** stdin bytes and the EOF, in order, waiting for room at the agent. */
  const queue: (Buffer | 'eof')[] = [];
  let ended = false;

  const flush = (): void => {
    while (queue.length > 0) {
      const next = queue[0]!;
      if (next === 'eof') {
        exec.closeStdin();
        queue.shift();
        continue;
      }
      const room = exec.stdinRoom;
      if (room === 0) break;
      const part = next.subarray(0, room);
      exec.writeStdin(part);
      if (part.length === next.length) queue.shift();
      else queue[0] = next.subarray(part.length);
    }
    if (queue.length > 0) socket.pause();
    else socket.resume();
  };

  const finish = (outcome: ExecOutcome): void => {
    if (ended) return;
    ended = true;
    if ('exitCode' in outcome) socket.end(encodeExecFrame(ExecFrameType.exit, JSON.stringify({ exitCode: outcome.exitCode })));
    else socket.end(encodeExecFrame(ExecFrameType.error, JSON.stringify(problem('CONFLICT', outcome.error))));
  };

  const onData = (chunk: Buffer): void => {
    let frames;
    try {
      frames = decoder.push(chunk);
    } catch (e) {
      exec.cancel();
      socket.end(encodeExecFrame(ExecFrameType.error, JSON.stringify(problem('INVALID', (e as Error).message))));
      return;
    }
    for (const f of frames) {
      if (f.type === ExecFrameType.stdin && request.stdin) queue.push(Buffer.from(f.payload));
      else if (f.type === ExecFrameType.stdinClose && request.stdin) queue.push('eof');
      else if (f.type === ExecFrameType.resize && request.tty) {
        const size = parseTerminalSize(f.payload);
        if (size) exec.resize(size.rows, size.cols);
      }
    }
    flush();
  };

  exec.listen({
    output: (stream, data) => {
      if (ended) return;
      const type = stream === 'stdout' ? ExecFrameType.stdout : ExecFrameType.stderr;
      for (let at = 0; at < data.length; at += MAX_EXEC_PAYLOAD) {
        const part = data.subarray(at, at + MAX_EXEC_PAYLOAD);
        socket.write(encodeExecFrame(type, part), () => exec.consumed(part.length));
      }
    },
    writable: flush,
    ended: (outcome) => {
      if ('error' in outcome && outcome.error === 'cancelled') return;
      finish(outcome);
    },
  });
  if (!request.stdin) exec.closeStdin();
  socket.on('data', onData);
  // The client went away (Ctrl-C, a lost connection): the command ends in the task. The server's
  // sockets allow half-open connections, so a client's FIN alone ('end') never closes this one.
  const gone = (): void => {
    ended = true;
    exec.cancel();
    socket.destroy();
  };
  socket.on('end', gone);
  socket.on('close', gone);
  if (head.length > 0) onData(head);
}

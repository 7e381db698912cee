import { randomUUID } from 'node:crypto';
import { fullSetParts, type ExecFrame, type Hello, type NodeUpdate, type SessionRequest, type SessionResponse, type TaskStatus as WireStatus } from '@berth/proto';
import type { Informer, NodeRegistration, NodeSessionLease, NodeSessions, TaskRecord, WatchEvent } from '@berth/store';
import { assignmentVersion, isAssignedTo, registrationFromHello, reportsFromWire, toAssignment } from './assignments';
import { LOG_WINDOW, LogStream } from './log-stream';
import { OUTPUT_WINDOW, RemoteExec } from './remote-exec';
import type { SessionRegistry } from './session-registry';
import { AccessError } from '../identity/identity';
import { NODE_NAME, type CertifiedNode } from '../identity/node-certificates';

/** Why the control plane ends a session; the gRPC shell maps `code` to a status. */
export interface SessionEnd {
  readonly code: 'INVALID_ARGUMENT' | 'UNAVAILABLE' | 'UNAUTHENTICATED' | 'PERMISSION_DENIED';
  readonly message: string;
}

/** The agent's stream as a session sees it (the gRPC call, or a test double). */
export interface SessionStream {
  send(msg: SessionResponse): void;
  /** Closes the stream: normally without `error`, with a status when given. */
  end(error?: SessionEnd): void;
}

export interface NodeSessionDeps {
  /** The node the session's client certificate names: the only node it may speak for. */
  readonly peer: CertifiedNode;
  /** Whether that certificate is still the node's (removing a node revokes its certificates). */
  readonly certificates: { requireCurrent(peer: CertifiedNode): Promise<void> };
  /** The one role a session writes with: registration, its alive key, its agent's reports. */
  readonly store: NodeSessions;
  /** The replica's task informer (shared by all sessions), used for the full assignment set. */
  readonly tasks: Informer<TaskRecord>;
  readonly registry: SessionRegistry;
  readonly leaseTtlSeconds: number;
  readonly heartbeatIntervalMs: number;
  /** Told to the agent in Welcome: how long without a renewed lease before fenced tasks must stop. */
  readonly nodeDownAfterMs: number;
  readonly log: (line: string) => void;
}

/**
 * One agent's session (docs/agent-protocol.md): Hello → register + lease + Welcome + full set;
 * then increments from task changes, status batches acknowledged once durable, heartbeats that
 * renew the lease, and log requests relayed both ways. Messages are handled one at a time in
 * arrival order, so acknowledgements go out in sequence order. Status batches that arrive while
 * an earlier one is being written are written together, in one store call, once it is done:
 * a node whose tasks all change at once costs a few transactions, not one per report.
 */
export class NodeSession {
  private node: string | undefined;
  private lease: NodeSessionLease | undefined;
  /** What the Hello said, with later NodeUpdates over it: re-registered as a whole on each update. */
  private registration: NodeRegistration | undefined;
  private generation = 0;
  /** Set once the full set went out: increments before it would arrive out of order. */
  private live = false;
  private closed = false;
  /** Assignment versions the agent has been sent, by task id. */
  private readonly sent = new Map<string, string>();
  private readonly logs = new Map<string, LogStream>();
  private readonly execs = new Map<string, RemoteExec>();
  private chain: Promise<void> = Promise.resolve();
  /** Statuses received but not yet being written; their write is queued on `chain`. */
  private statuses: WireStatus[] = [];

  constructor(
    private readonly deps: NodeSessionDeps,
    private readonly stream: SessionStream,
  ) {}

  get nodeName(): string | undefined {
    return this.node;
  }

  /** Queues one message from the agent; resolves once it (and every earlier one) was handled. */
  receive(msg: SessionRequest): Promise<void> {
    const m = msg.msg;
    if (this.node && m?.$case === 'status') {
      const foreign = this.foreignTask(m.value.statuses);
      if (foreign) return this.enqueue(async () => this.end(foreign));
      const queued = this.statuses.length > 0;
      this.statuses.push(...m.value.statuses);
      if (queued) return this.chain; // joins the write queued before it
      return this.enqueue(() => this.writeStatuses());
    }
    if (this.node && m?.$case === 'exec') {
      // Not behind status writes: a command's frames touch no store and keep their own order.
      const frame = m.value.frame;
      if (frame && !this.closed) this.execs.get(m.value.execId)?.receive(frame);
      return Promise.resolve();
    }
    return this.enqueue(() => this.handle(msg));
  }

  private enqueue(step: () => Promise<void>): Promise<void> {
    this.chain = this.chain.then(step).catch((e: unknown) => this.fail(e));
    return this.chain;
  }

  /** Writes every status gathered so far, then acknowledges the highest sequence number among them. */
  private async writeStatuses(): Promise<void> {
    const statuses = this.statuses.splice(0);
    if (this.closed || statuses.length === 0) return;
    await this.deps.store.updateTaskStatuses(this.node!, reportsFromWire(statuses));
    const seq = Math.max(...statuses.map((s) => s.seq));
    if (!this.closed) this.stream.send({ msg: { $case: 'statusAck', value: { seq } } });
  }

  /** The agent's side ended (or the call broke): drop the session; the node is down once its lease expires. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.lease?.close();
    if (this.node) this.deps.registry.release(this.node, this);
    for (const s of this.logs.values()) s.end(`node ${this.node} disconnected`);
    this.logs.clear();
    for (const e of [...this.execs.values()]) e.finish({ error: `node ${this.node} disconnected` });
  }

  /** A newer session of the same node took over: end this stream. */
  replace(): void {
    this.stream.end();
    this.close();
  }

  /** Task informer event: sends the increment this node needs, if any. */
  taskChanged(event: WatchEvent<TaskRecord>): void {
    if (!this.live || this.closed) return;
    const task = event.type === 'put' ? event.value : undefined;
    const id = event.key;
    if (task && isAssignedTo(task, this.node!)) {
      const version = assignmentVersion(task);
      if (this.sent.get(id) === version) return;
      this.sent.set(id, version);
      this.sendIncrement([task], []);
    } else if (this.sent.delete(id)) {
      this.sendIncrement([], [id]);
    }
  }

  /** Asks the agent for a task's log; the stream ends when the agent ends it or the session does. */
  openLogs(taskId: string, opts: { follow: boolean; tail: number; console?: boolean }, signal: AbortSignal): LogStream {
    const requestId = randomUUID();
    const stream = new LogStream((bytes) => {
      if (!this.closed && this.logs.has(requestId)) this.stream.send({ msg: { $case: 'logCredit', value: { requestId, bytes } } });
    });
    this.logs.set(requestId, stream);
    const cancel = () => {
      if (!this.logs.delete(requestId)) return;
      stream.end();
      if (!this.closed) this.stream.send({ msg: { $case: 'logCancel', value: { requestId } } });
    };
    signal.addEventListener('abort', cancel, { once: true });
    this.stream.send({ msg: { $case: 'logRequest', value: { requestId, taskId, follow: opts.follow, tail: opts.tail, console: opts.console === true, credit: LOG_WINDOW } } });
    return stream;
  }

  /**
   * Starts a command in a task on this node (`berth exec`); the caller listens on the returned
   * relay and cancels it when its client goes away. Ends with an error if the session does.
   */
  openExec(taskId: string, o: { command: readonly string[]; tty: boolean; size?: { rows: number; cols: number } }): RemoteExec {
    const execId = randomUUID();
    const send = (frame: NonNullable<ExecFrame['frame']>) => {
      if (!this.closed) this.stream.send({ msg: { $case: 'exec', value: { execId, frame } } });
    };
    const exec = new RemoteExec(execId, send, () => this.execs.delete(execId));
    this.execs.set(execId, exec);
    send({ $case: 'start', value: { taskId, command: [...o.command], tty: o.tty, size: o.size, credit: OUTPUT_WINDOW } });
    return exec;
  }

  private async handle(msg: SessionRequest): Promise<void> {
    if (this.closed) return;
    const m = msg.msg;
    if (!this.node) {
      if (m?.$case !== 'hello') return this.end({ code: 'INVALID_ARGUMENT', message: 'the first message of a session must be Hello' });
      return this.hello(m.value);
    }
    switch (m?.$case) {
      case 'status': {
        // Only before Hello was handled (receive() batches the rest).
        const foreign = this.foreignTask(m.value.statuses);
        if (foreign) return this.end(foreign);
        this.statuses.push(...m.value.statuses);
        return this.writeStatuses();
      }
      case 'heartbeat': {
        await this.lease?.keepAlive();
        // The ack tells the agent its lease was renewed: fencing counts from the heartbeat it acks.
        if (!this.closed) this.stream.send({ msg: { $case: 'heartbeatAck', value: { sentAtMs: m.value.sentAtMs } } });
        return;
      }
      case 'log': {
        const chunk = m.value;
        const stream = this.logs.get(chunk.requestId);
        stream?.push(chunk.lines);
        if (chunk.end) {
          this.logs.delete(chunk.requestId);
          stream?.end(chunk.error || undefined);
        }
        return;
      }
      case 'nodeUpdate':
        return this.nodeUpdate(m.value);
      case 'exec': {
        // Only before Hello was handled (receive() relays the rest at once): no command is open yet.
        return;
      }
      case 'hello':
        return this.end({ code: 'INVALID_ARGUMENT', message: 'Hello was sent twice in one session' });
    }
  }

  /** A driver's probe finished: the node's record gets the new details over what its Hello said. */
  private async nodeUpdate(u: NodeUpdate): Promise<void> {
    if (!this.registration || Object.keys(u.driverDetails).length === 0) return;
    this.registration = { ...this.registration, driverDetails: { ...this.registration.driverDetails, ...u.driverDetails } };
    await this.deps.store.registerNode(this.registration);
  }

  /**
   * A status for a task assigned to another node ends the session: an agent reports only its own
   * tasks, whatever its certificate. Tasks never move between nodes once placed, so the informer
   * (which may lag, but never names a wrong node) decides; unknown tasks are ignored as before.
   */
  private foreignTask(statuses: readonly WireStatus[]): SessionEnd | undefined {
    for (const s of statuses) {
      const owner = this.deps.tasks.get(s.taskId)?.nodeName;
      if (owner !== undefined && owner !== this.deps.peer.name) {
        return { code: 'PERMISSION_DENIED', message: `node ${this.deps.peer.name} reported a status for task ${s.taskId}, which is node ${owner}'s` };
      }
    }
    return undefined;
  }

  private async hello(h: Hello): Promise<void> {
    if (!NODE_NAME.test(h.nodeName)) {
      return this.end({ code: 'INVALID_ARGUMENT', message: `"${h.nodeName}" is not a valid node name (letters, digits, "-", "_", ".")` });
    }
    const peer = this.deps.peer;
    if (h.nodeName !== peer.name) {
      return this.end({ code: 'PERMISSION_DENIED', message: `this session's certificate is node ${peer.name}'s: it cannot speak for node ${h.nodeName}` });
    }
    try {
      await this.deps.certificates.requireCurrent(peer);
    } catch (e) {
      if (e instanceof AccessError) return this.end({ code: 'UNAUTHENTICATED', message: e.message });
      throw e;
    }
    await this.deps.tasks.synced();
    const foreign = this.foreignTask(h.tasks);
    if (foreign) return this.end(foreign);
    this.registration = registrationFromHello(h);
    await this.deps.store.registerNode(this.registration);
    const lease = await this.deps.store.openNodeSession(h.nodeName, this.deps.leaseTtlSeconds);
    if (this.closed) return lease.close();
    this.lease = lease;
    this.node = h.nodeName;
    this.deps.registry.claim(h.nodeName, this);
    // What the agent knows counts like a status batch (forward-only), so nothing it saw is lost.
    if (h.tasks.length > 0) await this.deps.store.updateTaskStatuses(h.nodeName, reportsFromWire(h.tasks));
    if (this.closed) return;
    this.stream.send({
      msg: { $case: 'welcome', value: { sessionId: randomUUID(), heartbeatIntervalMs: this.deps.heartbeatIntervalMs, nodeDownAfterMs: this.deps.nodeDownAfterMs } },
    });
    await this.deps.tasks.synced();
    if (this.closed) return;
    this.sendFull();
  }

  private sendFull(): void {
    const tasks = this.deps.tasks.list().filter((t) => isAssignedTo(t, this.node!));
    this.sent.clear();
    for (const t of tasks) this.sent.set(t.id, assignmentVersion(t));
    // No limit on a node's task count: a set larger than one message goes as several parts
    // (docs/agent-protocol.md), sent back to back so no increment comes between them.
    this.generation++;
    for (const part of fullSetParts(this.generation, tasks.map(toAssignment))) this.stream.send({ msg: { $case: 'assignments', value: part } });
    this.live = true;
  }

  private sendIncrement(upsert: readonly TaskRecord[], remove: readonly string[]): void {
    this.generation++;
    this.stream.send({ msg: { $case: 'assignments', value: { generation: this.generation, full: false, upsert: upsert.map(toAssignment), remove: [...remove], more: false } } });
  }

  private end(error: SessionEnd): void {
    this.stream.end(error);
    this.close();
  }

  private fail(e: unknown): void {
    if (this.closed) return;
    const message = e instanceof Error ? e.message : String(e);
    this.deps.log(`session of node ${this.node ?? '(before hello)'} failed: ${message}`);
    // The agent reconnects and re-sends what was not acknowledged, so ending is always safe.
    this.end({ code: 'UNAVAILABLE', message });
  }
}

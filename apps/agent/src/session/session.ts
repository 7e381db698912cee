import { status, type ChannelCredentials, type ClientDuplexStream, type ServiceError } from '@grpc/grpc-js';
import {
  DispatcherServiceClient,
  FullSetAssembler,
  MAX_SESSION_MESSAGE_BYTES,
  type Hello,
  logLineCost,
  type LogRequest,
  type SessionRequest,
  type SessionResponse,
} from '@berth/proto';
import type { LogLine } from '@berth/runtime';
import type { Worker } from '../worker/worker';
import { ExecRelay, type ExecStarter } from './exec-relay';
import { FenceClock } from './fence-clock';
import { SendCredit } from './send-credit';
import type { StatusOutbox } from './outbox';
import { assignmentFromWire, statusToWire } from './wire';
import { tlsTarget } from '../identity/tls-target';

export interface SessionDeps {
  /** host:port of the control plane's gRPC listener. */
  readonly server: string;
  /**
   * How to reach it: mutual TLS with the node's identity (IdentityProvider.channelCredentials(),
   * read afresh by every new connection: after a renewal the next stream presents the new
   * certificate while the current one stays up).
   */
  readonly credentials: ChannelCredentials;
  /** The node's certificate file, named when the control plane refuses the certificate. */
  readonly certificateFile?: string;
  /** This node's facts for Hello (the task list is added from the worker). */
  readonly hello: () => Omit<Hello, 'tasks'>;
  readonly worker: Worker;
  readonly outbox: StatusOutbox;
  /** Reads a task's log for a LogRequest; throws a DomainError when the task is unknown here. */
  readonly logs: (req: LogRequest, signal: AbortSignal) => AsyncIterable<LogLine>;
  /** Starts a command in a task for `berth exec`; throws a DomainError when the task is unknown or not running. */
  readonly exec: ExecStarter;
  readonly log: (line: string) => void;
  readonly random?: () => number;
  /**
   * Called once each time the node has gone the node-down time without a renewed lease (no
   * HeartbeatAck): the control plane may replace its fenced tasks from then on.
   */
  readonly cutOff?: (sinceMs: number) => void;
  /** Monotonic ms (default performance.now). */
  readonly clock?: () => number;
}

type Call = ClientDuplexStream<SessionRequest, SessionResponse>;

const BACKOFF_MIN_MS = 250;
const BACKOFF_MAX_MS = 5_000;
const MAX_BATCH = 500;
/** Until a Welcome says otherwise: the control plane's default node-down time. */
const DEFAULT_NODE_DOWN_AFTER_MS = 5_000;
const FENCE_CHECK_MS = 100;
/** Log text per LogChunk, at most (one line more). */
const LOG_CHUNK_BYTES = 64 * 1024;

/**
 * The agent's only connection to the control plane: one bidirectional stream, re-opened with
 * jittered exponential backoff whenever it breaks. After every (re)connect the agent says Hello
 * with every task it knows and re-sends unacknowledged statuses; the control plane answers with
 * the full assignment set, so no state has to survive on either side of a broken connection.
 */
export class AgentSession {
  private call: Call | undefined;
  private welcomed = false;
  private appliedGeneration = 0;
  /** Log requests being answered, each with its cancel and the credit the control plane granted. */
  private readonly logPumps = new Map<string, { readonly ctl: AbortController; readonly credit: SendCredit }>();
  /** The commands `berth exec` runs over the current stream; replaced (and its commands killed) with it. */
  private execs: ExecRelay | undefined;
  private readonly fenceClock: FenceClock;
  private flushScheduled = false;

  constructor(private readonly deps: SessionDeps) {
    this.fenceClock = new FenceClock(() => this.clock(), DEFAULT_NODE_DOWN_AFTER_MS);
  }

  private clock(): number {
    return (this.deps.clock ?? (() => performance.now()))();
  }

  /** Calls `cutOff` once the node has gone the node-down time without a lease renewal. */
  private async watchFence(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      await sleep(FENCE_CHECK_MS, signal);
      if (!signal.aborted && this.fenceClock.cutOffNow()) {
        const ms = this.fenceClock.downAfter;
        this.deps.log(`no lease renewal for ${ms} ms: stopping fenced tasks`);
        this.deps.cutOff?.(ms);
      }
    }
  }

  get connected(): boolean {
    return this.welcomed;
  }

  /**
   * Sends pending statuses once the current turn of the event loop is over (called by the
   * worker's status reports): what many tasks reported together goes out as one StatusBatch,
   * which the control plane writes in one transaction instead of one per report.
   */
  /** Tells the control plane what changed since Hello (sent after it on the same stream; a reconnect's Hello carries it anyway). */
  nodeChanged(driverDetails: Readonly<Record<string, string>>): void {
    this.call?.write({ msg: { $case: 'nodeUpdate', value: { driverDetails: { ...driverDetails } } } });
  }

  flushSoon(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  /** Sends pending statuses now if connected. */
  flush(): void {
    const call = this.call;
    if (!call || !this.welcomed) return;
    const pending = this.deps.outbox.takeUnsent();
    for (let i = 0; i < pending.length; i += MAX_BATCH) {
      call.write({ msg: { $case: 'status', value: { statuses: pending.slice(i, i + MAX_BATCH) } } });
    }
  }

  async run(signal: AbortSignal): Promise<void> {
    let attempt = 0;
    const fence = this.watchFence(signal);
    try {
      while (!signal.aborted) {
        const started = Date.now();
        // A client (and so a connection) per stream: TLS presents the node certificate once, at
        // the handshake, so a stream opened after a renewal must not reuse the old connection.
        const client = this.newClient();
        let reason: EndReason;
        try {
          reason = await this.connectOnce(client, signal);
        } finally {
          client.close();
        }
        if (signal.aborted) break;
        if (Date.now() - started > BACKOFF_MAX_MS) attempt = 0; // it was a working session
        const delay = this.backoff(attempt++);
        if (reason.refused) {
          const file = this.deps.certificateFile ?? "the node's certificate (node.pem)";
          this.deps.log(`the control plane refused this node's certificate (${reason.text}): was the node removed? Remove ${file} and join again with a token; retrying in ${delay} ms`);
        } else {
          this.deps.log(`session to ${this.deps.server} ended (${reason.text}); reconnecting in ${delay} ms`);
        }
        await sleep(delay, signal);
      }
    } finally {
      await fence;
    }
  }

  private newClient(): DispatcherServiceClient {
    return new DispatcherServiceClient(this.deps.server, this.deps.credentials, {
      'grpc.keepalive_time_ms': 10_000,
      'grpc.keepalive_timeout_ms': 5_000,
      'grpc.keepalive_permit_without_calls': 1,
      // What the control plane may send (a part of a full set, or one increment): docs/agent-protocol.md.
      'grpc.max_receive_message_length': MAX_SESSION_MESSAGE_BYTES,
      'grpc.max_send_message_length': MAX_SESSION_MESSAGE_BYTES,
      // Its own connection, not one shared through grpc-js's global pool with the previous client.
      'grpc.use_local_subchannel_pool': 1,
      ...tlsTarget(this.deps.server).options,
    });
  }

  private connectOnce(client: DispatcherServiceClient, signal: AbortSignal): Promise<EndReason> {
    return new Promise<EndReason>((resolve) => {
      const call = client.session();
      this.call = call;
      // Parts of a full set seen on an earlier stream are dropped with it: the new one sends all.
      const fullSets = new FullSetAssembler();
      this.execs = new ExecRelay(this.deps.exec, (execId, frame) => call.write({ msg: { $case: 'exec', value: { execId, frame } } }), this.deps.log);
      let heartbeat: NodeJS.Timeout | undefined;
      const finish = (reason: EndReason) => {
        if (this.call !== call) return;
        this.call = undefined;
        this.welcomed = false;
        clearInterval(heartbeat);
        signal.removeEventListener('abort', onAbort);
        for (const pump of this.logPumps.values()) pump.ctl.abort();
        this.logPumps.clear();
        this.execs?.closeAll();
        this.execs = undefined;
        call.cancel();
        resolve(reason);
      };
      const onAbort = () => finish({ text: 'agent stopping', refused: false });
      signal.addEventListener('abort', onAbort);
      call.on('error', (e: Error) => finish(endReason(e)));
      call.on('end', () => finish({ text: 'closed by the control plane', refused: false }));
      call.on('data', (m: SessionResponse) => {
        if (m.msg?.$case === 'welcome') {
          this.welcomed = true;
          this.fenceClock.setDownAfter(m.msg.value.nodeDownAfterMs);
          this.fenceClock.renewed(helloSentAt); // the control plane bound a new lease before it welcomed us
          this.deps.outbox.resendAll();
          this.flush();
          const every = Math.max(100, m.msg.value.heartbeatIntervalMs || 1_000);
          heartbeat = setInterval(() => call.write({ msg: { $case: 'heartbeat', value: { appliedGeneration: this.appliedGeneration, sentAtMs: Math.floor(this.clock()) } } }), every);
        } else {
          this.handle(call, m, fullSets);
        }
      });
      const tasks = this.deps.worker.tasks().map((t) => statusToWire(t, 0));
      const helloSentAt = this.clock();
      call.write({ msg: { $case: 'hello', value: { ...this.deps.hello(), tasks } } });
    });
  }

  private handle(call: Call, m: SessionResponse, fullSets: FullSetAssembler): void {
    switch (m.msg?.$case) {
      case 'assignments': {
        // A full set in parts is acted on once whole: a first part alone would stop the rest.
        for (const { full, upsert, remove, generation } of fullSets.add(m.msg.value)) {
          const valid = [];
          for (const a of upsert.map(assignmentFromWire)) {
            if ('invalid' in a) this.deps.log(a.invalid);
            else valid.push(a);
          }
          this.deps.worker.assign({ full, upsert: valid, remove });
          this.appliedGeneration = generation;
        }
        return;
      }
      case 'statusAck':
        this.deps.outbox.ack(m.msg.value.seq);
        return;
      case 'heartbeatAck':
        this.fenceClock.renewed(m.msg.value.sentAtMs);
        return;
      case 'logRequest':
        this.pumpLogs(call, m.msg.value);
        return;
      case 'logCancel':
        this.logPumps.get(m.msg.value.requestId)?.ctl.abort();
        return;
      case 'logCredit':
        this.logPumps.get(m.msg.value.requestId)?.credit.grant(m.msg.value.bytes);
        return;
      case 'exec':
        this.execs?.receive(m.msg.value);
        return;
    }
  }

  /**
   * Answers a log request line by line, reading the log only as far as the control plane has
   * granted credit: a reader that stops reading stops the file being read (the log reader is a
   * generator pulled from here).
   */
  private pumpLogs(call: Call, req: LogRequest): void {
    const ctl = new AbortController();
    const credit = new SendCredit(req.credit > 0 ? req.credit : Number.POSITIVE_INFINITY);
    this.logPumps.set(req.requestId, { ctl, credit });
    const send = (lines: LogLine[], end: boolean, error = '') =>
      call.write({
        msg: { $case: 'log', value: { requestId: req.requestId, end, error, lines: lines.map((l) => ({ timeMs: Date.parse(l.time), stream: l.stream, text: l.text })) } },
      });
    const pump = async () => {
      try {
        // Lines read in one go (a chunk of the file) leave as one LogChunk: the batch goes out
        // once this turn of the event loop is over, or when it is full.
        let batch: LogLine[] = [];
        let batchBytes = 0;
        let scheduled = false;
        const flush = () => {
          scheduled = false;
          if (batch.length === 0 || ctl.signal.aborted) return;
          send(batch, false);
          batch = [];
          batchBytes = 0;
        };
        for await (const line of this.deps.logs(req, ctl.signal)) {
          await credit.room(ctl.signal);
          if (ctl.signal.aborted) break;
          const cost = logLineCost(line);
          credit.spend(cost);
          batch.push(line);
          batchBytes += cost;
          if (batchBytes >= LOG_CHUNK_BYTES) flush();
          else if (!scheduled) {
            scheduled = true;
            setImmediate(flush);
          }
        }
        flush();
        if (!ctl.signal.aborted) send([], true);
      } catch (e) {
        if (!ctl.signal.aborted) send([], true, e instanceof Error ? e.message : String(e));
      } finally {
        this.logPumps.delete(req.requestId);
      }
    };
    void pump();
  }

  private backoff(attempt: number): number {
    const cap = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** attempt);
    return Math.round(cap / 2 + ((this.deps.random ?? Math.random)() * cap) / 2); // "equal jitter"
  }
}

/** Why a stream ended; `refused`: the control plane does not accept this node's certificate. */
interface EndReason {
  readonly text: string;
  readonly refused: boolean;
}

/**
 * TLS alerts a server sends when it rejects the client's certificate (OpenSSL's wording), for the
 * case where it refuses the certificate in the handshake rather than with UNAUTHENTICATED.
 */
const CERTIFICATE_ALERT = /alert (bad certificate|certificate (unknown|revoked|expired|required)|unknown ca)/i;

function endReason(e: Error): EndReason {
  if ((e as Partial<ServiceError>).code === status.UNAUTHENTICATED) return { text: (e as ServiceError).details || e.message, refused: true };
  return { text: e.message, refused: CERTIFICATE_ALERT.test(e.message) };
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done);
  });
}

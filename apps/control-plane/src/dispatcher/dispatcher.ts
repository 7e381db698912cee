import { Inject, Injectable, Logger, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { Server, type ServerDuplexStream } from '@grpc/grpc-js';
import { DispatcherServiceService, NodeCaServiceService, MAX_SESSION_MESSAGE_BYTES, type SessionRequest, type SessionResponse } from '@berth/proto';
import type { NodeInfo } from '@berth/core';
import type { Informer, NodeSessions, StoreReads, TaskRecord } from '@berth/store';
import { DEFAULT_NODE_DOWN_AFTER_MS, formatAddress, ListenError } from '../config';
import type { ControlPlaneMetrics } from '../observability/metrics';
import { grpcServerCredentials } from '../identity/grpc-credentials';
import type { IdentityDeps } from '../identity/identity';
import { NodeCertificates } from '../identity/node-certificates';
import { DISPATCHER_OPTIONS, IDENTITY, METRICS, NODE_SESSIONS, STORE_READS } from '../tokens';
import { attachCall, streamOf } from './grpc-call';
import { grpcError, nodeCaHandlers, peerCertificateOf } from './node-ca';
import { NodeSession } from './node-session';
import { SessionRegistry } from './session-registry';

/** Where and how the dispatcher serves agents. */
export interface DispatcherOptions {
  readonly host: string;
  /** 0 picks a free port (see `address`). */
  readonly port: number;
  /**
   * A node whose lease has not been renewed for this long is down (default 5 s): its alive
   * lease lasts that long, rounded up to whole seconds, and agents heartbeat five times as often.
   */
  readonly nodeDownAfterMs?: number;
}

/** The lease and heartbeat timing that make a node down after `nodeDownAfterMs`. */
export function sessionTiming(nodeDownAfterMs = DEFAULT_NODE_DOWN_AFTER_MS): { leaseTtlSeconds: number; heartbeatIntervalMs: number; nodeDownAfterMs: number } {
  return { leaseTtlSeconds: Math.ceil(nodeDownAfterMs / 1000), heartbeatIntervalMs: Math.max(200, Math.floor(nodeDownAfterMs / 5)), nodeDownAfterMs };
}

/** How long stop() lets sessions end on their own before cutting them. */
const SHUTDOWN_GRACE_MS = 2_000;

/**
 * The gRPC server agents connect to (plain grpc-js, hosted here rather than through Nest
 * microservices, whose shutdown waits forever on endless streams). Every replica serves it, over
 * TLS only: a session needs a node certificate of the cluster CA, which names the node; joining
 * (NodeCaService) needs a join token instead. One session per node; the task informer it runs
 * feeds every session's increments.
 */
@Injectable()
export class Dispatcher implements OnModuleInit, OnApplicationShutdown {
  private readonly log = new Logger('dispatcher');
  private readonly server = new Server({
    'grpc.keepalive_time_ms': 10_000,
    'grpc.keepalive_timeout_ms': 5_000,
    'grpc.keepalive_permit_without_calls': 1,
    // Both sides agree on the largest message; a full assignment set above it goes in parts.
    'grpc.max_receive_message_length': MAX_SESSION_MESSAGE_BYTES,
    'grpc.max_send_message_length': MAX_SESSION_MESSAGE_BYTES,
  });
  private readonly stop = new AbortController();
  private readonly tasks: Informer<TaskRecord>;
  /** Only for removals: the session of a node the operator removed ends (see onModuleInit). */
  private readonly nodes: Informer<NodeInfo>;
  readonly registry: SessionRegistry;
  private informerRun: Promise<void> | undefined;
  private boundPort = 0;

  constructor(
    @Inject(STORE_READS) reads: StoreReads,
    @Inject(NODE_SESSIONS) private readonly sessions: NodeSessions,
    @Inject(METRICS) metrics: ControlPlaneMetrics,
    @Inject(DISPATCHER_OPTIONS) private readonly opts: DispatcherOptions,
    @Inject(IDENTITY) private readonly identity: IdentityDeps,
    private readonly certificates: NodeCertificates,
  ) {
    this.tasks = reads.taskInformer();
    this.nodes = reads.nodeInformer();
    this.registry = new SessionRegistry((n) => metrics.setAgentSessions(n));
  }

  /** `host:port` agents dial (the bound port when 0 was asked for). */
  get address(): string {
    return formatAddress(this.opts.host, this.boundPort);
  }

  async onModuleInit(): Promise<void> {
    this.server.addService(DispatcherServiceService, { session: (call: ServerDuplexStream<SessionRequest, SessionResponse>) => this.accept(call) });
    this.server.addService(NodeCaServiceService, nodeCaHandlers(this.certificates, (line) => this.log.warn(line)));
    const wanted = formatAddress(this.opts.host, this.opts.port);
    const credentials = grpcServerCredentials(this.identity.ca.certPem, this.identity.serving);
    this.boundPort = await new Promise<number>((resolve, reject) =>
      this.server.bindAsync(wanted, credentials, (e, port) => (e ? reject(new ListenError(wanted, e.message)) : resolve(port))),
    );
    this.tasks.subscribe((e) => this.registry.taskChanged(e));
    // `berth node rm --force` of a connected node: its session would keep renewing the alive key
    // of a node that no longer exists. Ended, the agent connects again and registers anew; its
    // tasks are by then the orchestrator's to replace, and the new node is given none of them.
    this.nodes.subscribe((e) => {
      if (e.type === 'delete') this.registry.get(e.key)?.replace();
    });
    this.informerRun = Promise.all([this.tasks.run(this.stop.signal), this.nodes.run(this.stop.signal)]).then(() => undefined);
  }

  async onApplicationShutdown(): Promise<void> {
    this.registry.closeAll();
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.server.forceShutdown();
        resolve();
      }, SHUTDOWN_GRACE_MS);
      this.server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
    this.stop.abort();
    await this.informerRun;
  }

  private accept(call: ServerDuplexStream<SessionRequest, SessionResponse>): void {
    let peer;
    try {
      peer = this.certificates.authenticate(peerCertificateOf(call));
    } catch (e) {
      call.emit('error', grpcError(e));
      return;
    }
    const session = new NodeSession(
      {
        peer,
        certificates: this.certificates,
        store: this.sessions,
        tasks: this.tasks,
        registry: this.registry,
        ...sessionTiming(this.opts.nodeDownAfterMs),
        log: (line) => this.log.warn(line),
      },
      streamOf(call),
    );
    attachCall(call, session);
  }
}

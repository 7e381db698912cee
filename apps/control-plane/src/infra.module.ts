import { type DynamicModule, Module } from '@nestjs/common';
import type { ControlPlaneMember, Store } from '@berth/store';
import { type ImageResolver, NO_IMAGE_RESOLVER } from './api/image-resolver';
import type { DispatcherOptions } from './dispatcher/dispatcher';
import type { Elector } from './leader/elector';
import type { IdentityDeps } from './identity/identity';
import { DEFAULT_NODE_GRACE_MS } from './config';
import type { ControlPlaneMetrics } from './observability/metrics';
import {
  ELECTOR,
  IDENTITY,
  IMAGE_RESOLVER,
  LEADER_WRITES,
  MEMBERS,
  METRICS,
  NODE_ADMIN,
  NODE_GRACE,
  NODE_SESSIONS,
  ORCHESTRATOR_WRITES,
  SCHEDULER_WRITES,
  SERVICE_WRITES,
  STORE_READS,
} from './tokens';

/** The ports the composition root built (store, metrics, election), handed to feature modules. */
export interface AppDeps {
  readonly store: Store;
  readonly metrics: ControlPlaneMetrics;
  /** Absent → this process serves the API only and never runs leader loops. */
  readonly elector?: Elector;
  /** Absent → no gRPC dispatcher (agents cannot connect; task logs are not served). Needs `identity`. */
  readonly dispatcher?: DispatcherOptions;
  /** The cluster CA, the serving certificate and the identity store; absent → no tokens, no dispatcher. */
  readonly identity?: IdentityDeps;
  /** Grace after start / leader change during which absent nodes are `unknown`; default 15 s. */
  readonly nodeGraceMs?: number;
  /** Pins images to digests at apply; absent → nothing is pinned (every apply warns so). */
  readonly imageResolver?: ImageResolver;
  /** The control-plane replicas announced now, for `GET /sd`; absent → none listed. */
  readonly members?: MemberList;
}

export interface MemberList {
  list(): Promise<ControlPlaneMember[]>;
  /** This replica's own id among them (what requests forwarded to a peer skip). */
  readonly self?: string;
}

/** The store's role tokens, all bound to the one store (see tokens.ts). */
const STORE_ROLES = [STORE_READS, SERVICE_WRITES, NODE_ADMIN, ORCHESTRATOR_WRITES, LEADER_WRITES, SCHEDULER_WRITES, NODE_SESSIONS];

/**
 * Provides the ports to the feature modules that import it. Not global: a module sees the store
 * only by importing this module explicitly, so who can write is visible in the module graph; and
 * only by role, so what a provider can write is visible in its constructor.
 */
@Module({})
export class InfraModule {
  static forRoot(deps: AppDeps): DynamicModule {
    const providers = [
      ...STORE_ROLES.map((role) => ({ provide: role, useValue: deps.store })),
      { provide: METRICS, useValue: deps.metrics },
      { provide: NODE_GRACE, useValue: deps.nodeGraceMs ?? DEFAULT_NODE_GRACE_MS },
      { provide: IMAGE_RESOLVER, useValue: deps.imageResolver ?? NO_IMAGE_RESOLVER },
      ...(deps.elector ? [{ provide: ELECTOR, useValue: deps.elector }] : []),
      ...(deps.members ? [{ provide: MEMBERS, useValue: deps.members }] : []),
      ...(deps.identity ? [{ provide: IDENTITY, useValue: deps.identity }] : []),
    ];
    return { module: InfraModule, providers, exports: providers.map((p) => p.provide) };
  }
}

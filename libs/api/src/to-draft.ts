import { DomainError, formatConstraint, normaliseCapability, parseConstraint, parseCpu, parseDuration, parseMemory, parseSpreadBy } from '@berth/core';
import type { Capability, HealthCheck, HealthProbe, Placement, Resources, RestartPolicy, SecurityContext, ServiceDraft, ServiceSpec, TaskTemplate, UpdateConfig } from '@berth/core';
import type { HealthCheckDto, PlacementDto, ResourcesDto, RestartPolicyDto, SecurityContextDto, ServiceManifestDto, RollbackDto, TemplateDto, UpdateDto, VmDto } from './dto';

/** What an omitted field means. `toSpecView` renders these back, so `get -o json` shows them. */
export const DEFAULTS = {
  mode: 'replicated',
  replicas: 1,
  runtime: 'container',
  protocol: 'tcp',
  vcpus: 1,
  stopGracePeriodMs: 10_000,
  restartPolicy: { condition: 'any', delayMs: 1000, maxDelayMs: 30_000, maxAttempts: 0 },
  update: { parallelism: 1, delayMs: 0, monitorMs: 5000, maxFailureRatio: 0, failureAction: 'pause', order: 'stop-first' },
  rollback: { parallelism: 1, delayMs: 0, monitorMs: 5000, maxFailureRatio: 0, failureAction: 'pause', order: 'stop-first' },
  placement: { constraints: [], maxPerNode: 0, strategy: 'spread' },
  fencing: false,
  healthCheck: { intervalMs: 30_000, timeoutMs: 30_000, retries: 3, startPeriodMs: 0 },
  httpPath: '/',
} as const;

/** A validated value failed to parse again: the rules and this mapper disagree (a bug). */
class MapperInvariantError extends DomainError {
  readonly code = 'INTERNAL';
}

// These run only on documents that passed validation, so every parse succeeds.
const parsed = <T>(p: { ok: true; value: T } | { ok: false; reason: string }): T => {
  if (!p.ok) throw new MapperInvariantError(`validated value failed to parse again: ${p.reason}`);
  return p.value;
};
const ms = (value: unknown, fallback: number): number => (value == null ? fallback : parsed(parseDuration(value)));
const or = <T>(value: T | null | undefined, fallback: T): T => (value == null ? fallback : value);

/** A validated manifest → the domain's draft, every default filled and quantities normalised. */
export function toDraft(dto: ServiceManifestDto): ServiceDraft {
  const spec = dto.spec;
  const mode = or(spec.mode, DEFAULTS.mode);
  const serviceSpec: ServiceSpec = {
    mode,
    // Global services run one task per eligible node; replicas has no meaning there.
    replicas: mode === 'global' ? 0 : or(spec.replicas, DEFAULTS.replicas),
    template: toTemplate(spec.template),
    restartPolicy: toRestartPolicy(spec.restartPolicy ?? {}),
    update: toUpdate(spec.update ?? {}, DEFAULTS.update),
    rollback: toUpdate(spec.rollback ?? {}, DEFAULTS.rollback),
    placement: toPlacement(spec.placement ?? {}),
    fencing: or(spec.fencing, DEFAULTS.fencing),
  };
  return {
    name: dto.metadata.name,
    labels: { ...(dto.metadata.labels ?? {}) },
    spec: serviceSpec,
    ...(dto.metadata.resourceVersion == null ? {} : { resourceVersion: dto.metadata.resourceVersion }),
  };
}

function toTemplate(t: TemplateDto): TaskTemplate {
  const runtime = or(t.runtime, DEFAULTS.runtime);
  return {
    runtime,
    ...(t.image == null ? {} : { image: t.image }),
    ...(t.imagePull == null ? {} : { imagePull: t.imagePull }),
    ...(t.command == null ? {} : { command: [...t.command] }),
    env: { ...(t.env ?? {}) },
    resources: toResources(t.resources ?? {}),
    ports: (t.ports ?? []).map((p) => ({
      containerPort: p.containerPort,
      ...(p.hostPort == null ? {} : { hostPort: p.hostPort }),
      protocol: or(p.protocol, DEFAULTS.protocol),
    })),
    ...(t.healthCheck == null ? {} : { healthCheck: toHealthCheck(t.healthCheck) }),
    volumes: (t.volumes ?? []).map((v) => ({ name: v.name, mountPath: v.mountPath })),
    ...(runtime === 'vm' ? { vm: toVm(t.vm) } : {}),
    stopGracePeriodMs: ms(t.stopGracePeriod, DEFAULTS.stopGracePeriodMs),
    ...securityContext(t.securityContext),
  };
}

/**
 * Only what differs from the hardened defaults is kept, in one spelling (capabilities
 * `CAP_`-prefixed, sorted, once): a manifest that writes a default out, or lists capabilities
 * in another order, is the same template and rolls nothing out.
 */
function securityContext(s: SecurityContextDto | undefined): { securityContext?: SecurityContext } {
  if (s == null) return {};
  const caps = [...new Set((s.capabilities?.add ?? []).map(capability))].sort();
  const out: SecurityContext = {
    ...(caps.length > 0 ? { addCapabilities: caps } : {}),
    ...(s.readOnlyRootFilesystem === true ? { readOnlyRootFilesystem: true as const } : {}),
    ...(s.runAsUser == null ? {} : { runAsUser: s.runAsUser }),
    ...(s.runAsGroup == null ? {} : { runAsGroup: s.runAsGroup }),
    ...(s.userNamespace === true ? { userNamespace: true as const } : {}),
    ...(s.privileged === true ? { privileged: true as const } : {}),
  };
  return Object.keys(out).length > 0 ? { securityContext: out } : {};
}

function capability(name: string): Capability {
  const cap = normaliseCapability(name);
  if (!cap) throw new MapperInvariantError(`validated capability ${JSON.stringify(name)} is not one`);
  return cap;
}

function toResources(r: ResourcesDto): Resources {
  return {
    ...(r.cpu == null ? {} : { cpuMillis: parsed(parseCpu(r.cpu)) }),
    ...(r.memory == null ? {} : { memoryBytes: parsed(parseMemory(r.memory)) }),
    ...(r.pids == null ? {} : { pids: r.pids }),
  };
}

/** "default" (or nothing) leaves the kernel to the node. */
function toVm(v: VmDto | undefined): NonNullable<TaskTemplate['vm']> {
  const kernel = v?.kernel == null || v.kernel === 'default' ? undefined : v.kernel;
  return { vcpus: or(v?.vcpus, DEFAULTS.vcpus), ...(kernel ? { kernel } : {}), ...(v?.disk == null ? {} : { disk: v.disk }), ...(v?.cmdline == null ? {} : { cmdline: v.cmdline }) };
}

function toHealthCheck(h: HealthCheckDto): HealthCheck {
  const d = DEFAULTS.healthCheck;
  return {
    ...toHealthProbe(h),
    intervalMs: ms(h.interval, d.intervalMs),
    timeoutMs: ms(h.timeout, d.timeoutMs),
    retries: or(h.retries, d.retries),
    startPeriodMs: ms(h.startPeriod, d.startPeriodMs),
  };
}

/** Validation let exactly one of exec, tcp and http through. */
function toHealthProbe(h: HealthCheckDto): HealthProbe {
  if (h.tcp != null) return { tcp: { port: h.tcp.port } };
  if (h.http != null) return { http: { port: h.http.port, path: or(h.http.path, DEFAULTS.httpPath) } };
  if (h.exec != null) return { exec: [...h.exec] };
  throw new MapperInvariantError('validated health check has neither exec, tcp nor http');
}

function toRestartPolicy(r: RestartPolicyDto): RestartPolicy {
  const d = DEFAULTS.restartPolicy;
  return {
    condition: or(r.condition, d.condition),
    delayMs: ms(r.delay, d.delayMs),
    maxDelayMs: ms(r.maxDelay, d.maxDelayMs),
    maxAttempts: or(r.maxAttempts, d.maxAttempts),
  };
}

function toUpdate(u: UpdateDto | RollbackDto, d: UpdateConfig): UpdateConfig {
  return {
    parallelism: or(u.parallelism, d.parallelism),
    delayMs: ms(u.delay, d.delayMs),
    monitorMs: ms(u.monitor, d.monitorMs),
    maxFailureRatio: or(u.maxFailureRatio, d.maxFailureRatio),
    failureAction: or(u.failureAction, d.failureAction),
    order: or(u.order, d.order),
  };
}

function toPlacement(p: PlacementDto): Placement {
  const d = DEFAULTS.placement;
  return {
    // Stored in one spelling, so re-applying "node.labels.zone==a" is not a change.
    constraints: (p.constraints ?? []).map((c) => formatConstraint(parsed(parseConstraint(c)))),
    maxPerNode: or(p.maxPerNode, d.maxPerNode),
    strategy: or(p.strategy, d.strategy),
    // Stored in one spelling, like constraints; absent = no grouping.
    ...(p.spreadBy == null ? {} : { spreadBy: `node.labels.${parsed(parseSpreadBy(p.spreadBy))}` }),
  };
}

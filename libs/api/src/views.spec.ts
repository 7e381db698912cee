import fc from 'fast-check';
import { stringify } from 'yaml';
import { describe, expect, it } from 'vitest';
import { LINUX_CAPABILITIES, MAX_TASK_ID, USER_NAMESPACE_IDS, type HealthProbe, type NodeInfo, type Revision, type Rollout, type SecurityContext, type Service, type ServiceSpec, type Task } from '@berth/core';
import { ARCHITECTURE_EXAMPLE, withTemplate } from './__fixtures__/manifests';
import { parseManifests, toNodeView, toRevisionView, toRolloutView, toServiceView, toSpecView, toTaskView, validateManifestObjects } from './index';

const manifestOf = (name: string, spec: ServiceSpec) => ({ apiVersion: 'berth/v1', kind: 'Service', metadata: { name }, spec: toSpecView(spec) });

const duration = fc.integer({ min: 0, max: 3 * 3_600_000 });
const ratio = fc.double({ min: 0, max: 1, noNaN: true });
const envName = fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,10}$/);

const portArb = fc.integer({ min: 1, max: 65535 });
const idArb = fc.option(fc.oneof(fc.integer({ min: 0, max: USER_NAMESPACE_IDS - 1 }), fc.integer({ min: 0, max: MAX_TASK_ID })), { nil: undefined });
/** What to-draft keeps of a securityContext: only what differs from the defaults, capabilities sorted. */
const securityArb: fc.Arbitrary<SecurityContext | undefined> = fc
  .record({ caps: fc.uniqueArray(fc.constantFrom(...LINUX_CAPABILITIES), { maxLength: 3 }), readOnly: fc.boolean(), runAsUser: idArb, runAsGroup: idArb, userns: fc.boolean() })
  .map((r) => ({
    ...(r.caps.length > 0 ? { addCapabilities: [...r.caps].sort() } : {}),
    ...(r.readOnly ? { readOnlyRootFilesystem: true as const } : {}),
    ...(r.runAsUser === undefined ? {} : { runAsUser: r.runAsUser }),
    ...(r.runAsGroup === undefined ? {} : { runAsGroup: r.runAsGroup }),
    // Only with ids the namespace maps (validation refuses the others).
    ...(r.userns && (r.runAsUser ?? 0) < USER_NAMESPACE_IDS && (r.runAsGroup ?? 0) < USER_NAMESPACE_IDS ? { userNamespace: true as const } : {}),
  }))
  .map((s) => (Object.keys(s).length > 0 ? s : undefined));
const probeArb: fc.Arbitrary<HealthProbe> = fc.oneof(
  fc.record({ exec: fc.array(fc.string(), { minLength: 1, maxLength: 3 }) }),
  fc.record({ tcp: fc.record({ port: portArb }) }),
  fc.record({ http: fc.record({ port: portArb, path: fc.stringMatching(/^\/[\x21-\x7e]{0,20}$/) }) }),
);

/** Valid domain specs: what a successful parse can produce. */
const specArb: fc.Arbitrary<ServiceSpec> = fc
  .record({
    global: fc.boolean(),
    replicas: fc.integer({ min: 0, max: 10_000 }),
    vm: fc.option(fc.record({ vcpus: fc.integer({ min: 1, max: 64 }), kernel: fc.option(fc.constantFrom('/boot/vmlinuz-6.1.0-57-amd64', '/srv/kernels/bzImage'), { nil: undefined }) }), { nil: undefined }),
    image: fc.constantFrom('127.0.0.1:5000/busybox:1', 'oci:/srv/images/busybox:1', 'library/busybox:1.36', `r.io/a/b@sha256:${'0'.repeat(64)}`),
    imagePull: fc.option(fc.constantFrom('ifNotPresent' as const, 'always' as const), { nil: undefined }),
    command: fc.option(fc.array(fc.string(), { minLength: 1, maxLength: 4 }), { nil: undefined }),
    env: fc.dictionary(envName, fc.string(), { maxKeys: 4 }),
    cpuMillis: fc.option(fc.integer({ min: 1, max: 64_000 }), { nil: undefined }),
    memoryBytes: fc.option(fc.integer({ min: 1, max: 2 ** 40 }), { nil: undefined }),
    pids: fc.option(fc.integer({ min: 1, max: 100_000 }), { nil: undefined }),
    ports: fc.uniqueArray(fc.record({ containerPort: fc.integer({ min: 1, max: 65535 }), hostPort: fc.option(fc.integer({ min: 1, max: 65535 }), { nil: undefined }), protocol: fc.constantFrom('tcp' as const, 'udp' as const) }), {
      maxLength: 4,
      selector: (p) => (p.hostPort === undefined ? `c${p.containerPort}` : `${p.hostPort}/${p.protocol}`),
    }),
    health: fc.option(fc.record({ probe: probeArb, intervalMs: fc.integer({ min: 1, max: 600_000 }), timeoutMs: fc.integer({ min: 1, max: 600_000 }), retries: fc.integer({ min: 1, max: 100 }), startPeriodMs: duration }), { nil: undefined }),
    volumes: fc.uniqueArray(fc.stringMatching(/^[a-z][a-z0-9]{0,8}$/), { maxLength: 3 }),
    stopGracePeriodMs: duration,
    restart: fc.record({ condition: fc.constantFrom('any' as const, 'on-failure' as const, 'none' as const), delayMs: duration, extraMs: duration, maxAttempts: fc.nat() }),
    update: fc.record({ parallelism: fc.nat({ max: 10_000 }), delayMs: duration, monitorMs: duration, maxFailureRatio: ratio, failureAction: fc.constantFrom('pause' as const, 'continue' as const, 'rollback' as const), order: fc.constantFrom('stop-first' as const, 'start-first' as const) }),
    rollback: fc.record({ parallelism: fc.nat({ max: 10_000 }), delayMs: duration, monitorMs: duration, maxFailureRatio: ratio, failureAction: fc.constantFrom('pause' as const, 'continue' as const), order: fc.constantFrom('stop-first' as const, 'start-first' as const) }),
    constraints: fc.array(fc.tuple(fc.constantFrom('node.name', 'node.labels.zone', 'node.labels.example.com/disk'), fc.constantFrom('==', '!='), fc.stringMatching(/^[a-z0-9]{1,8}$/)).map((t) => t.join(' ')), { maxLength: 3 }),
    maxPerNode: fc.nat({ max: 1000 }),
    strategy: fc.constantFrom('spread' as const, 'binpack' as const),
    spreadBy: fc.option(fc.constantFrom('node.labels.zone', 'node.labels.example.com/rack'), { nil: undefined }),
    fencing: fc.boolean(),
    security: securityArb,
  })
  .map((r) => ({
    mode: r.global ? 'global' : 'replicated',
    replicas: r.global ? 0 : r.replicas,
    template: {
      runtime: r.vm === undefined ? 'container' : 'vm',
      image: r.image,
      ...(r.imagePull ? { imagePull: r.imagePull } : {}),
      ...(r.command ? { command: r.command } : {}),
      env: r.env,
      resources: { ...(r.cpuMillis ? { cpuMillis: r.cpuMillis } : {}), ...(r.memoryBytes ? { memoryBytes: r.memoryBytes } : {}), ...(r.pids && r.vm === undefined ? { pids: r.pids } : {}) },
      // A host port cannot be combined with start-first updates or rollbacks (validation refuses it).
      ports: r.ports.map((p) => ({
        containerPort: p.containerPort,
        ...(p.hostPort === undefined || r.update.order === 'start-first' || r.rollback.order === 'start-first' ? {} : { hostPort: p.hostPort }),
        protocol: p.protocol,
      })),
      // A VM task takes no pids limit and no exec health check (validation refuses them).
      ...(r.health && (r.vm === undefined || r.health.probe.exec === undefined) ? { healthCheck: { ...r.health.probe, intervalMs: r.health.intervalMs, timeoutMs: r.health.timeoutMs, retries: r.health.retries, startPeriodMs: r.health.startPeriodMs } } : {}),
      // No volumes with a user namespace yet (validation refuses them).
      volumes: r.volumes.map((name) => ({ name, mountPath: `/mnt/${name}` })),
      ...(r.vm === undefined ? {} : { vm: { vcpus: r.vm.vcpus, ...(r.vm.kernel ? { kernel: r.vm.kernel } : {}) } }),
      stopGracePeriodMs: r.stopGracePeriodMs,
      // Containers only (validation refuses it for a VM).
      ...(r.security && r.vm === undefined ? { securityContext: r.security } : {}),
    },
    restartPolicy: { condition: r.restart.condition, delayMs: r.restart.delayMs, maxDelayMs: r.restart.delayMs + r.restart.extraMs, maxAttempts: r.restart.maxAttempts },
    update: r.update,
    rollback: r.rollback,
    placement: { constraints: r.constraints, maxPerNode: r.maxPerNode, strategy: r.strategy, ...(r.spreadBy && !r.global ? { spreadBy: r.spreadBy } : {}) },
    fencing: r.fencing,
  }));

describe('toSpecView round trip', () => {
  it('re-parsing the view of a parsed manifest yields the same draft', () => {
    const [draft] = parseManifests([{ file: 'web.yaml', text: ARCHITECTURE_EXAMPLE }]);
    const again = validateManifestObjects([manifestOf('web', draft!.spec)]);
    expect(again[0]!.spec).toEqual(draft!.spec);
  });

  it('renders canonical text quantities and every default', () => {
    const [draft] = parseManifests([{ file: 'web.yaml', text: ARCHITECTURE_EXAMPLE.replace('cpu: 500m', 'cpu: 2').replace('memory: 64Mi', 'memory: 1073741824') }]);
    const view = toSpecView(draft!.spec);
    expect(view.template.resources).toEqual({ cpu: '2', memory: '1Gi', pids: 256 });
    expect(view.template.stopGracePeriod).toBe('10s');
    expect(view.restartPolicy).toEqual({ condition: 'any', delay: '1s', maxDelay: '30s', maxAttempts: 0 });
    expect(view.update).toEqual({ parallelism: 1, delay: '0s', monitor: '5s', maxFailureRatio: 0, failureAction: 'rollback', order: 'stop-first' });
    expect(view.rollback).toEqual({ parallelism: 1, delay: '0s', monitor: '5s', maxFailureRatio: 0, failureAction: 'pause', order: 'stop-first' });
    expect(view.template.healthCheck).toEqual({ exec: ['wget', '-qO-', 'http://127.0.0.1:8080/'], interval: '5s', timeout: '2s', retries: 3, startPeriod: '2s' });
  });

  it('shows the kind of health check in manifest form, the http path filled in', () => {
    const view = (check: string) => toSpecView(parseManifests([{ file: 'web.yaml', text: withTemplate(`    healthCheck: ${check}\n`) }])[0]!.spec).template.healthCheck;
    const timing = { interval: '30s', timeout: '30s', retries: 3, startPeriod: '0s' };
    expect(view('{ http: { port: 8080 } }')).toEqual({ http: { port: 8080, path: '/' }, ...timing });
    expect(view('{ tcp: { port: 6379 } }')).toEqual({ tcp: { port: 6379 }, ...timing });
    expect(view('{ exec: ["true"] }')).toEqual({ exec: ['true'], ...timing });
  });

  it('shows the update and rollback defaults of a minimal manifest, maxFailureRatio included', () => {
    const view = toSpecView(parseManifests([{ file: 'web.yaml', text: withTemplate('') }])[0]!.spec);
    const defaults = { parallelism: 1, delay: '0s', monitor: '5s', maxFailureRatio: 0, failureAction: 'pause', order: 'stop-first' };
    expect(view.update).toEqual(defaults);
    expect(view.rollback).toEqual(defaults);
    const tuned = toSpecView(parseManifests([{ file: 'web.yaml', text: withTemplate('', '  update: { maxFailureRatio: 0.5 }\n  rollback: { failureAction: continue, delay: 2s }\n') }])[0]!.spec);
    expect(tuned.update.maxFailureRatio).toBe(0.5);
    expect(tuned.rollback).toEqual({ ...defaults, delay: '2s', failureAction: 'continue' });
  });

  it('shows a securityContext only when the template changes a default, capabilities as stored', () => {
    const view = (text: string) => toSpecView(parseManifests([{ file: 'web.yaml', text: withTemplate(text) }])[0]!.spec).template.securityContext;
    expect(view('')).toBeUndefined();
    expect(view('    securityContext: { readOnlyRootFilesystem: false, privileged: false, capabilities: { add: [] } }\n')).toBeUndefined();
    expect(view('    securityContext: { capabilities: { add: [net_raw, NET_BIND_SERVICE] }, readOnlyRootFilesystem: true, runAsUser: 0, runAsGroup: 10 }\n')).toEqual({
      capabilities: { add: ['CAP_NET_BIND_SERVICE', 'CAP_NET_RAW'] },
      readOnlyRootFilesystem: true,
      runAsUser: 0,
      runAsGroup: 10,
    });
    expect(view('    securityContext: { userNamespace: false }\n')).toBeUndefined();
    expect(view('    securityContext: { userNamespace: true, runAsUser: 1000 }\n')).toEqual({ runAsUser: 1000, userNamespace: true });
  });

  it('any valid spec survives view → JSON → validate, and view → YAML → parse', () => {
    fc.assert(
      fc.property(specArb, (spec) => {
        const manifest = manifestOf('svc', spec);
        expect(validateManifestObjects([JSON.parse(JSON.stringify(manifest))])[0]!.spec).toEqual(spec);
        expect(parseManifests([{ file: 'svc.yaml', text: stringify(manifest) }])[0]!.spec).toEqual(spec);
      }),
      { numRuns: 200 },
    );
  });
});

const spec = parseManifests([{ file: 'web.yaml', text: ARCHITECTURE_EXAMPLE }])[0]!.spec;
const service: Service = {
  meta: { name: 'web', labels: { z: '1', a: '2' }, resourceVersion: '17', generation: 2, revision: 2, createdAt: '2026-01-01T00:00:00Z', updatedAt: '2026-01-02T00:00:00Z' },
  spec,
};

describe('views', () => {
  it('shows a service with its status, labels sorted', () => {
    const view = toServiceView(service, { desired: 3, running: 2, updated: 1, observedGeneration: 2, updatedAt: '2026-01-02T00:00:01Z' });
    expect(view.metadata).toEqual({ name: 'web', resourceVersion: '17', generation: 2, revision: 2, labels: { a: '2', z: '1' }, createdAt: '2026-01-01T00:00:00Z', updatedAt: '2026-01-02T00:00:00Z' });
    expect(Object.keys(view.metadata.labels)).toEqual(['a', 'z']);
    expect(view.status).toEqual({ desired: 3, running: 2, updated: 1 });
    expect(view.spec.template.resources).toEqual({ cpu: '500m', memory: '64Mi', pids: 256 });
  });

  it('shows nothing running before the leader reported a status', () => {
    expect(toServiceView(service).status).toEqual({ desired: 3, running: 0, updated: 0 });
    expect(toServiceView({ ...service, spec: { ...spec, mode: 'global', replicas: 0 } }).spec).not.toHaveProperty('replicas');
  });

  it('shows the rollout in the status, leaving out what is not known', () => {
    const rollout: Rollout = { revision: 2, state: 'paused', previousRevision: 1, total: 3, updated: 1, failed: 1, reason: 'web.2.x failed: exit 1', startedAt: 't1', updatedAt: 't2', pausedAt: 't2' };
    const view = toServiceView(service, { desired: 3, running: 3, updated: 1, observedGeneration: 2, updatedAt: 't2' }, rollout);
    expect(view.status).toEqual({
      desired: 3,
      running: 3,
      updated: 1,
      rollout: { revision: 2, state: 'paused', previousRevision: 1, total: 3, updated: 1, failed: 1, reason: 'web.2.x failed: exit 1', startedAt: 't1', updatedAt: 't2' },
    });
    expect(toRolloutView({ revision: 1, state: 'completed', total: 3, updated: 3, failed: 0, startedAt: 't0', updatedAt: 't1', completedAt: 't1' })).toEqual({
      revision: 1,
      state: 'completed',
      total: 3,
      updated: 3,
      failed: 0,
      startedAt: 't0',
      updatedAt: 't1',
      completedAt: 't1',
    });
    expect(toServiceView(service).status).not.toHaveProperty('rollout');
  });

  it('shows the pinned digest as status.imageDigest, not in the spec, so the spec re-applies as it was written', () => {
    const digest = `sha256:${'c'.repeat(64)}`;
    const pinned: Service = { ...service, spec: { ...spec, template: { ...spec.template, imageDigest: digest } } };
    const view = toServiceView(pinned, { desired: 3, running: 3, updated: 3, observedGeneration: 2, updatedAt: 't' });
    expect(view.status).toEqual({ desired: 3, running: 3, updated: 3, imageDigest: digest });
    expect(view.spec.template).not.toHaveProperty('imageDigest');
    expect(view.spec.template.image).toBe('127.0.0.1:5000/busybox:1');
    expect(validateManifestObjects([manifestOf('web', pinned.spec)])[0]!.spec).toEqual(spec);
    expect(toServiceView(service).status).not.toHaveProperty('imageDigest');
    const always = { ...spec, template: { ...spec.template, imagePull: 'always' as const } };
    expect(toSpecView(always).template.imagePull).toBe('always');
    expect(toSpecView(spec).template).not.toHaveProperty('imagePull');
  });

  it('shows a revision with its image, spec in manifest form, and whether it is current', () => {
    const revision: Revision = { revision: 1, generation: 1, spec, createdAt: 't0', cause: 'apply' };
    expect(toRevisionView(revision, 2)).toEqual({ revision: 1, generation: 1, createdAt: 't0', cause: 'apply', image: '127.0.0.1:5000/busybox:1', current: false, spec: toSpecView(spec) });
    expect(toRevisionView(revision, 1).current).toBe(true);
    const digest = `sha256:${'d'.repeat(64)}`;
    const pinned = toRevisionView({ ...revision, spec: { ...spec, template: { ...spec.template, imageDigest: digest } } }, 2);
    expect(pinned).toMatchObject({ image: '127.0.0.1:5000/busybox:1', imageDigest: digest, spec: toSpecView(spec) });
  });

  it('shows a task, leaving out what is not known', () => {
    const task: Task = {
      id: 'web.1.abc',
      service: 'web',
      slot: 1,
      specGeneration: 2,
      desiredState: 'running',
      status: { state: 'pending', updatedAt: '2026-01-01T00:00:00Z' },
      createdAt: '2026-01-01T00:00:00Z',
      resourceVersion: '5',
    };
    expect(toTaskView(task)).toEqual({
      metadata: { name: 'web.1.abc', service: 'web', slot: 1, createdAt: '2026-01-01T00:00:00Z' },
      spec: { desiredState: 'running' },
      status: { state: 'pending' },
    });
    const running: Task = { ...task, nodeName: 'n1', status: { state: 'running', node: 'n1', pid: 42, ip: '10.88.0.2', startedAt: '2026-01-01T00:00:01Z', updatedAt: 'x' } };
    expect(toTaskView(running)).toMatchObject({ spec: { desiredState: 'running', node: 'n1' }, status: { state: 'running', node: 'n1', pid: 42, ip: '10.88.0.2', startedAt: '2026-01-01T00:00:01Z' } });
    expect(toTaskView(running).status).not.toHaveProperty('health');
    expect(toTaskView({ ...running, status: { ...running.status, health: 'healthy' } }).status.health).toBe('healthy');
  });

  it('shows a node with capacity in canonical quantities', () => {
    const node: NodeInfo = {
      name: 'n1',
      labels: { zone: 'a' },
      availability: 'drain',
      state: 'ready',
      address: '10.0.0.1:7072',
      capacity: { cpuMillis: 4000, memoryBytes: 8 * 1024 ** 3 },
      drivers: ['runc', 'qemu'],
      resourceVersion: '9',
    };
    expect(toNodeView(node, { cpuMillis: 1500, memoryBytes: 96 * 1024 ** 2, tasks: 3 })).toEqual({
      metadata: { name: 'n1', labels: { zone: 'a' } },
      spec: { availability: 'drain' },
      status: {
        state: 'ready',
        address: '10.0.0.1:7072',
        capacity: { cpu: '4', memory: '8Gi' },
        drivers: ['runc', 'qemu'],
        allocated: { cpu: '1500m', memory: '96Mi' },
        tasks: 3,
      },
    });
    expect(toNodeView({ ...node, state: 'down', downSince: '2026-01-01T00:00:00.000Z' }).status).toMatchObject({ state: 'down', downSince: '2026-01-01T00:00:00.000Z', tasks: 0 });
  });

  it('says that a task not finished on a down node has lost its node, and links a replacement to what it replaces', () => {
    const task = { id: 'web.1.a', service: 'web', slot: 1, specGeneration: 1, desiredState: 'running' as const, nodeName: 'n3', status: { state: 'running' as const, node: 'n3', updatedAt: 'x' }, createdAt: 'x', resourceVersion: '1' };
    const down = { name: 'n3', state: 'down' as const, downSince: '2026-01-01T00:00:00.000Z' };
    expect(toTaskView(task, down).status).toMatchObject({ state: 'running', message: 'node n3 down since 2026-01-01T00:00:00.000Z' });
    expect(toTaskView(task, { ...down, state: 'ready' }).status.message).toBeUndefined();
    expect(toTaskView({ ...task, id: 'web.1.b', replaces: 'web.1.a' }).spec).toEqual({ desiredState: 'running', node: 'n3', replaces: 'web.1.a' });
  });

  it("shows a global task's target node, before and after the scheduler placed it there", () => {
    const { nodeName: _none, ...pending } = { id: 'agentd.1.a', service: 'agentd', slot: 1, specGeneration: 1, desiredState: 'running' as const, nodeName: 'n3', targetNode: 'n3', status: { state: 'pending' as const, updatedAt: 'x' }, createdAt: 'x', resourceVersion: '1' };
    expect(toTaskView(pending).spec).toEqual({ desiredState: 'running', targetNode: 'n3' });
    expect(toTaskView({ ...pending, nodeName: 'n3' }).spec).toEqual({ desiredState: 'running', node: 'n3', targetNode: 'n3' });
  });
});

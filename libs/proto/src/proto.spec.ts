import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { TASK_HEALTH, TASK_STATES, type TaskTemplate } from '@berth/core';
import { HealthCheck, SessionRequest, TaskHealth, TaskSpec, TaskState } from './gen/berth/agent/v1/agent';
import { runtimesFromProto, taskHealthFromProto, taskHealthToProto, taskSpecFromProto, taskSpecToProto, taskStateFromProto, taskStateToProto } from './mappers';

const root = resolve(__dirname, '../../..');

describe('agent protocol', () => {
  it('generated code matches proto/ (run deploy/gen-proto.sh after editing a .proto)', () => {
    const out = mkdtempSync(join(tmpdir(), 'berth-proto-'));
    try {
      const config = readFileSync(join(root, 'buf.gen.yaml'), 'utf8').replace('out: libs/proto/src/gen', `out: ${out}`);
      writeFileSync(join(out, 'buf.gen.yaml'), config);
      execFileSync(join(root, 'node_modules/.bin/buf'), ['generate', '--template', join(out, 'buf.gen.yaml')], { cwd: root, stdio: 'pipe' });
      const rel = 'berth/agent/v1/agent.ts';
      expect(readFileSync(join(out, rel), 'utf8')).toBe(readFileSync(join(__dirname, 'gen', rel), 'utf8'));
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });

  it('reads the runtimes a node serves; none from an older agent, unknown ones left out', () => {
    expect(runtimesFromProto(['container', 'vm', 'container'])).toEqual(['container', 'vm']);
    expect(runtimesFromProto(['container', 'wasm'])).toEqual(['container']);
    expect(runtimesFromProto([])).toBeUndefined();
  });

  it('maps every task state both ways', () => {
    for (const s of TASK_STATES) expect(taskStateFromProto(taskStateToProto(s))).toBe(s);
    expect(taskStateFromProto(TaskState.TASK_STATE_UNSPECIFIED)).toBeUndefined();
  });

  it('maps every health both ways; no health check is UNSPECIFIED', () => {
    for (const h of TASK_HEALTH) expect(taskHealthFromProto(taskHealthToProto(h))).toBe(h);
    expect(taskHealthToProto(undefined)).toBe(TaskHealth.TASK_HEALTH_UNSPECIFIED);
    expect(taskHealthFromProto(TaskHealth.TASK_HEALTH_UNSPECIFIED)).toBeUndefined();
  });

  it('carries a task template through the wire unchanged', () => {
    const template: TaskTemplate = {
      runtime: 'container',
      image: '127.0.0.1:5000/busybox:1',
      command: ['httpd', '-f', '-p', '8080'],
      env: { GREETING: 'hello' },
      resources: { cpuMillis: 500, memoryBytes: 64 * 1024 ** 2, pids: 256 },
      ports: [{ containerPort: 8080, hostPort: 18080, protocol: 'tcp' }, { containerPort: 53, protocol: 'udp' }],
      healthCheck: { exec: ['true'], intervalMs: 5000, timeoutMs: 2000, retries: 3, startPeriodMs: 2000 },
      volumes: [{ name: 'data', mountPath: '/data' }],
      stopGracePeriodMs: 10_000,
      securityContext: { addCapabilities: ['CAP_NET_BIND_SERVICE', 'CAP_NET_RAW'], readOnlyRootFilesystem: true, runAsUser: 1000, runAsGroup: 0, userNamespace: true },
    };
    const wire = SessionRequest.encode({
      msg: { $case: 'hello', value: { nodeName: 'n1', agentVersion: '0.1.0', address: '127.0.0.1', capacity: undefined, drivers: ['runc', 'qemu'], runtimes: [], labels: {}, metricsAddress: '', tasks: [], driverDetails: { qemu: 'probing' } } },
    }).finish();
    expect(SessionRequest.decode(wire).msg).toMatchObject({ $case: 'hello', value: { nodeName: 'n1', driverDetails: { qemu: 'probing' } } });
    expect(taskSpecFromProto(taskSpecToProto(template))).toEqual(template);
    expect(taskSpecFromProto(TaskSpec.decode(TaskSpec.encode(taskSpecToProto(template)).finish()))).toEqual(template);
  });

  it('drops a capability this agent does not know, and an all-default security context', () => {
    const base = taskSpecToProto({ runtime: 'container', image: 'x/y:1', env: {}, resources: {}, ports: [], volumes: [], stopGracePeriodMs: 1 });
    const read = (securityContext: TaskSpec['securityContext']) => taskSpecFromProto({ ...base, securityContext }).securityContext;
    expect(read({ addCapabilities: ['CAP_CHOWN', 'CAP_FROM_THE_FUTURE'], readOnlyRootFilesystem: false, userNamespace: false, privileged: false })).toEqual({ addCapabilities: ['CAP_CHOWN'] });
    expect(read({ addCapabilities: [], readOnlyRootFilesystem: false, userNamespace: false, privileged: false })).toBeUndefined();
    expect(read({ addCapabilities: [], readOnlyRootFilesystem: false, runAsUser: 0, userNamespace: false, privileged: false })).toEqual({ runAsUser: 0 });
    expect(read({ addCapabilities: [], readOnlyRootFilesystem: false, userNamespace: true, privileged: false })).toEqual({ userNamespace: true });
    expect(read({ addCapabilities: [], readOnlyRootFilesystem: false, userNamespace: false, privileged: true })).toEqual({ privileged: true });
  });

  it('carries the pinned digest and the pull policy; an unknown policy reads as none', () => {
    const base: TaskTemplate = { runtime: 'container', image: '127.0.0.1:5000/busybox:1', env: {}, resources: {}, ports: [], volumes: [], stopGracePeriodMs: 1000 };
    const pinned: TaskTemplate = { ...base, imageDigest: `sha256:${'ab'.repeat(32)}` };
    const always: TaskTemplate = { ...base, imagePull: 'always' };
    const roundTrip = (t: TaskTemplate) => taskSpecFromProto(TaskSpec.decode(TaskSpec.encode(taskSpecToProto(t)).finish()));
    expect(roundTrip(pinned)).toEqual(pinned);
    expect(roundTrip(always)).toEqual(always);
    expect(roundTrip(base)).toEqual(base);
    const vm: TaskTemplate = { ...base, runtime: 'vm', vm: { vcpus: 2, kernel: '/boot/vmlinuz-6.1.0-57-amd64' } };
    expect(roundTrip(vm)).toEqual(vm);
    const { image: _none, ...noImage } = base;
    const disk: TaskTemplate = { ...noImage, runtime: 'vm', vm: { vcpus: 1, kernel: '/boot/vmlinuz-6.1.0-57-amd64', disk: '/img/debian-12.qcow2', cmdline: 'quiet root=/dev/vda1' } };
    expect(taskSpecToProto(disk)).toMatchObject({ image: '', vmDisk: '/img/debian-12.qcow2', vmCmdline: 'quiet root=/dev/vda1' });
    expect(roundTrip(disk)).toEqual(disk);
    expect(taskSpecFromProto({ ...taskSpecToProto(base), imagePull: 'sometimes' })).toEqual(base);
  });

  it('carries each kind of health check through the wire; an exec check encodes as before tcp and http', () => {
    const base: TaskTemplate = { runtime: 'container', image: '127.0.0.1:5000/busybox:1', env: {}, resources: {}, ports: [], volumes: [], stopGracePeriodMs: 1000 };
    const timing = { intervalMs: 1000, timeoutMs: 500, retries: 2, startPeriodMs: 3000 };
    const roundTrip = (t: TaskTemplate) => taskSpecFromProto(TaskSpec.decode(TaskSpec.encode(taskSpecToProto(t)).finish()));
    const checks = [{ exec: ['true'], ...timing }, { tcp: { port: 6379 }, ...timing }, { http: { port: 8080, path: '/healthz?full=1' }, ...timing }];
    for (const healthCheck of checks) expect(roundTrip({ ...base, healthCheck })).toEqual({ ...base, healthCheck });
    const before = HealthCheck.encode({ exec: ['true'], ...timing }).finish();
    expect(HealthCheck.encode(taskSpecToProto({ ...base, healthCheck: checks[0] }).healthCheck!).finish()).toEqual(before);
  });
});

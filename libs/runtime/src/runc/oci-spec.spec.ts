import { describe, expect, it } from 'vitest';
import type { TaskConfig } from '../driver';
import { TaskSpecError } from '../errors';
import { parseImageConfig } from '../images/image-config';
import { DEFAULT_CAPABILITIES, toOciSpec, type SpecContext } from './oci-spec';

const task = (over: Partial<TaskConfig> = {}): TaskConfig => ({
  taskId: 'web.1.abc123',
  service: 'web',
  runtime: 'container',
  image: '127.0.0.1:5000/busybox:1',
  env: {},
  resources: {},
  ports: [],
  volumes: [],
  stopGracePeriodMs: 10_000,
  ...over,
});

const image = parseImageConfig({
  config: { Entrypoint: ['/bin/httpd'], Cmd: ['-f', '-p', '80'], Env: ['PATH=/bin', 'MODE=image', 'KEEP=1'], WorkingDir: '/srv' },
});

const ctx: SpecContext = {
  rootfs: '/var/lib/berth/tasks/web.1.abc123/rootfs',
  netnsPath: '/run/netns/berth-web.1.abc123',
  cgroupsPath: '/berth/node-a/web.1.abc123',
  volumesDir: '/var/lib/berth/volumes',
  user: { uid: 0, gid: 0 },
};

describe('toOciSpec', () => {
  it('produces the full hardened config for a typical task', () => {
    const spec = toOciSpec(
      task({ env: { MODE: 'task' }, resources: { cpuMillis: 500, memoryBytes: 64 * 1024 * 1024, pids: 256 }, volumes: [{ name: 'data', mountPath: '/data' }] }),
      image,
      ctx,
    );
    expect(spec).toMatchSnapshot();
  });

  it('runs the task command instead of entrypoint + cmd when given', () => {
    expect(toOciSpec(task({ command: ['sh', '-c', 'echo hi'] }), image, ctx).process.args).toEqual(['sh', '-c', 'echo hi']);
    expect(toOciSpec(task(), image, ctx).process.args).toEqual(['/bin/httpd', '-f', '-p', '80']);
    expect(toOciSpec(task({ command: [] }), image, ctx).process.args).toEqual(['/bin/httpd', '-f', '-p', '80']);
  });

  it('refuses a task with nothing to run', () => {
    const empty = parseImageConfig({ config: {} });
    expect(() => toOciSpec(task(), empty, ctx)).toThrow(TaskSpecError);
    expect(() => toOciSpec(task(), empty, ctx)).toThrow(/has no entrypoint or cmd/);
  });

  it('layers env: image, then HOSTNAME, then the task (task wins)', () => {
    const env = toOciSpec(task({ env: { MODE: 'task', EXTRA: 'x' } }), image, ctx).process.env;
    expect(env).toEqual(['PATH=/bin', 'MODE=task', 'KEEP=1', 'HOSTNAME=web.1.abc123', 'EXTRA=x']);
  });

  it('turns millicores into quota per 100 ms period, and memory into a no-swap limit', () => {
    const res = (r: TaskConfig['resources']) => toOciSpec(task({ resources: r }), image, ctx).linux.resources;
    expect(res({ cpuMillis: 250 }).cpu).toEqual({ quota: 25_000, period: 100_000, shares: 256 });
    expect(res({ cpuMillis: 2000 }).cpu).toEqual({ quota: 200_000, period: 100_000, shares: 2048 });
    expect(res({ cpuMillis: 1 }).cpu).toEqual({ quota: 1000, period: 100_000, shares: 2 });
    expect(res({ memoryBytes: 1 << 30 }).memory).toEqual({ limit: 1 << 30, swap: 1 << 30 });
    expect(res({ pids: 10 }).pids).toEqual({ limit: 10 });
    expect(res({})).toEqual({ devices: [{ allow: false, access: 'rwm' }] });
  });

  it('keeps the hardened defaults and the task identity', () => {
    const spec = toOciSpec(task(), image, ctx);
    expect(spec.process.capabilities.bounding).toEqual([...DEFAULT_CAPABILITIES]);
    expect(spec.process.noNewPrivileges).toBe(true);
    expect(spec.linux.maskedPaths).toContain('/proc/kcore');
    expect(spec.linux.readonlyPaths).toContain('/proc/sys');
    expect(spec.mounts.find((m) => m.destination === '/sys')?.options).toContain('ro');
    expect(spec.hostname).toBe('web.1.abc123');
    expect(spec.process.cwd).toBe('/srv');
    expect(spec.linux.namespaces.map((n) => n.type)).toEqual(['pid', 'network', 'ipc', 'uts', 'mount']);
    expect(spec.linux.namespaces[1]).toEqual({ type: 'network', path: '/run/netns/berth-web.1.abc123' });
  });

  it('bind-mounts named volumes from the volumes dir and rejects unsafe names or relative paths', () => {
    const spec = toOciSpec(task({ volumes: [{ name: 'data', mountPath: '/var/data/' }] }), image, ctx);
    expect(spec.mounts.at(-1)).toEqual({ destination: '/var/data/', type: 'bind', source: '/var/lib/berth/volumes/data', options: ['rbind', 'rw', 'nosuid', 'nodev'] });
    expect(() => toOciSpec(task({ volumes: [{ name: '../etc', mountPath: '/x' }] }), image, ctx)).toThrow(/volume name/);
    expect(() => toOciSpec(task({ volumes: [{ name: 'data', mountPath: 'rel' }] }), image, ctx)).toThrow(/must be absolute/);
  });
});

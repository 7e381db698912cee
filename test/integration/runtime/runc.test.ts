import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdtemp, readdir, readFile, readlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CniNetwork, DEFAULT_USER_NAMESPACE_BASE, ImageStore, RuncDriver, type TaskConfig, type TaskHandle } from '@berth/runtime';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runDriverConformance } from '../../../libs/runtime/src/conformance';
import { freePort, httpGetEventually } from '../../support/net';
import { requireTools } from '../../support/prereq';
import { restoreHost, snapshotHost, type HostSnapshot } from '../network/host-state';
import { buildBusyboxLayout, cgroupDirsNamed, cleanUpNode, memoryLimitOf, mountsUnder, processesInNamespaceOf } from './host';

const ready = requireTools(['runc', 'conmon', 'umoci', 'skopeo', 'busybox', 'ip', 'iptables', 'nsenter'], { root: true });

describe.runIf(ready)('runc driver', () => {
  const suffix = randomBytes(3).toString('hex');
  const node = `rt${suffix}`;
  let dataDir = '';
  let runcRoot = '';
  let image = '';
  let network: CniNetwork;
  let before: HostSnapshot;

  beforeAll(async () => {
    // The CNI plugins change host-wide settings as a side effect (ip_forward, empty nft tables).
    before = snapshotHost('/run/netns');
    dataDir = await mkdtemp(join(tmpdir(), 'berth-runc-'));
    runcRoot = join(dataDir, 'runc');
    image = await buildBusyboxLayout(join(dataDir, 'busybox-layout'));
    // Own bridge and subnet (clear of Docker's and of the network suite's), own IPAM dir.
    network = new CniNetwork({ nodeName: node, bridge: `brt${suffix}`, subnet: `10.213.${parseInt(suffix.slice(0, 2), 16)}.0/24`, ipamDataDir: join(dataDir, 'ipam') });
  });

  afterAll(async () => {
    if (dataDir) await cleanUpNode({ runcRoot, node, dataDir, network });
    if (before) restoreHost(before, '/run/netns');
  });

  // A new driver (and image store) per call, sharing only on-disk state: what an agent restart looks like.
  const makeDriver = () => new RuncDriver({ node, dataDir, images: new ImageStore({ dir: join(dataDir, 'images') }), network, runcRoot });

  const config = (service: string, command: string[], extra: Partial<TaskConfig> = {}): TaskConfig => ({
    taskId: `${service}.1.${randomBytes(3).toString('hex')}`,
    service,
    runtime: 'container',
    image,
    command,
    env: {},
    resources: {},
    ports: [],
    volumes: [],
    stopGracePeriodMs: 1000,
    ...extra,
  });

  runDriverConformance('runc', makeDriver, () => ({
    image,
    memoryLimitOf,
    processesOf: processesInNamespaceOf,
    leftovers: async (h: TaskHandle) => [
      ...(await mountsUnder(h.dir)).map((m) => `mount ${m}`),
      ...(existsSync(join(runcRoot, h.taskId)) ? [`runc state ${h.taskId}`] : []),
      ...(await cgroupDirsNamed(`/berth/${node}/${h.taskId}`)).map((d) => `cgroup ${d}`),
      ...(existsSync(h.dir) ? [`task dir ${h.dir}`] : []),
      ...(h.network && existsSync(h.network.netnsPath) ? [`netns ${h.network.netnsPath}`] : []),
    ],
  }));

  it('writes CRI-format log lines and runs the task in its CNI network namespace', async () => {
    const d = makeDriver();
    const h = await d.prepare(config('crilog', ['sh', '-c', 'echo hello world; readlink /proc/self/ns/net; ip -4 -o addr show eth0']));
    try {
      await d.start(h);
      expect(await d.wait(h)).toBe(0);
      const lines = (await readFile(h.logPath, 'utf8')).trimEnd().split('\n');
      expect(lines[0]).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+[+-]\d\d:\d\d stdout F hello world$/);
      expect(lines[1]).toMatch(new RegExp(` stdout F net:\\[${statSync(h.network!.netnsPath).ino}\\]$`));
      expect(h.network?.ip).toBeDefined();
      expect(lines[2]).toContain(` inet ${h.network!.ip!.split('/')[0]}/`);
    } finally {
      await d.destroy(h);
    }
  });

  it('publishes a host port to the task', async () => {
    const hostPort = await freePort();
    const d = makeDriver();
    const h = await d.prepare(
      config('web', ['sh', '-c', 'mkdir -p /www && echo served-by-task > /www/index.html && exec httpd -f -p 8080 -h /www'], {
        ports: [{ containerPort: 8080, hostPort, protocol: 'tcp' }],
      }),
    );
    try {
      await d.start(h);
      expect(await httpGetEventually(`http://127.0.0.1:${hostPort}/`)).toBe('served-by-task\n');
    } finally {
      await d.destroy(h);
    }
  });

  it('caps the log file of a chatty task and keeps its latest lines', async () => {
    const d = new RuncDriver({ node, dataDir, images: new ImageStore({ dir: join(dataDir, 'images') }), network, runcRoot, logSizeMax: 16 * 1024 });
    const h = await d.prepare(config('chatty', ['sh', '-c', 'i=0; while [ $i -lt 2000 ]; do i=$((i+1)); echo "line $i of a task that talks a lot"; done']));
    try {
      await d.start(h);
      expect(await d.wait(h)).toBe(0);
      expect(statSync(h.logPath).size).toBeLessThanOrEqual(16 * 1024);
      const tail: string[] = [];
      for await (const l of d.logs(h, { tail: 1 })) tail.push(l.text);
      expect(tail).toEqual(['line 2000 of a task that talks a lot']);
    } finally {
      await d.destroy(h);
    }
  });

  it('a timed-out exec leaves no runc process and no pid file behind', async () => {
    const d = makeDriver();
    const h = await d.prepare(config('hung', ['sh', '-c', 'echo ready; exec sleep 1000']));
    try {
      await d.start(h);
      expect(await d.exec(h, ['sleep', '300'], { timeoutMs: 300 })).toEqual({ timedOut: true, output: '' });
      const runcs = (await hostCommandLines()).filter((c) => c.includes('runc') && c.includes(` exec `) && c.includes(h.taskId));
      expect(runcs).toEqual([]);
      expect(readdirSync(h.dir).filter((f) => f.startsWith('exec-'))).toEqual([]);
    } finally {
      await d.destroy(h);
    }
  });

  it('a restarted agent ends the commands its predecessor exec’d and nobody reads any more', async () => {
    const before = makeDriver();
    const h = await before.prepare(config('orphan', ['sh', '-c', 'echo ready; exec sleep 1000']));
    try {
      await before.start(h);
      const status = await before.inspect(h);
      expect(status.state).toBe('running');
      const left = await before.execStream(h, ['sleep', '1001'], { tty: false });
      left.stdout.resume();
      left.stderr.resume();
      expect(readdirSync(h.dir).filter((f) => f.startsWith('exec-'))).toHaveLength(1);
      // A new driver over the same state, as after `kill -9` of the agent: recover re-adopts the task only.
      expect(await makeDriver().recover(h)).toBe('attached');
      expect(await left.exited).toBe(137);
      expect(readdirSync(h.dir).filter((f) => f.startsWith('exec-'))).toEqual([]);
      expect(await before.inspect(h)).toEqual(status);
    } finally {
      await before.destroy(h);
    }
  });

  describe('hardened by default', () => {
    /** Runs `script` to its end in a task of its own; its exit code and output lines. */
    const run = async (script: string, extra: Partial<TaskConfig> = {}): Promise<{ code: number; lines: string[] }> => {
      const d = makeDriver();
      const h = await d.prepare(config('sec', ['sh', '-c', script], extra));
      try {
        await d.start(h);
        const code = await d.wait(h);
        const lines: string[] = [];
        for await (const l of d.logs(h)) lines.push(l.text);
        return { code, lines };
      } finally {
        await d.destroy(h);
      }
    };
    const status = (field: string) => `grep '^${field}:' /proc/self/status`;

    it('holds no capability, no new privileges, a seccomp filter, and its own cgroup namespace', async () => {
      const d = makeDriver();
      const h = await d.prepare(config('sec', ['sh', '-c', `${status('CapEff')}; ${status('CapBnd')}; ${status('CapPrm')}; ${status('NoNewPrivs')}; ${status('Seccomp')}; exec sleep 1000`]));
      try {
        await d.start(h);
        const inspect = await d.inspect(h);
        const pid = inspect.state === 'running' ? inspect.pid : 0;
        expect(pid).toBeGreaterThan(0);
        expect(await readlink(`/proc/${pid}/ns/cgroup`)).not.toBe(await readlink('/proc/self/ns/cgroup'));
        const pidsMax = (await cgroupDirsNamed(`/berth/${node}/${h.taskId}`)).map((dir) => join(dir, 'pids.max')).find((f) => existsSync(f));
        expect(pidsMax && (await readFile(pidsMax, 'utf8')).trim()).toBe('4096');
        const lines: string[] = [];
        for await (const l of d.logs(h, { follow: true })) if (lines.push(l.text.replace(/\s+/g, ' ')) === 5) break;
        expect(lines).toEqual(['CapEff: 0000000000000000', 'CapBnd: 0000000000000000', 'CapPrm: 0000000000000000', 'NoNewPrivs: 1', 'Seccomp: 2']);
      } finally {
        await d.destroy(h);
      }
    });

    it('refuses new namespaces, mounts and chroot, but lets an unprivileged user serve port 80', async () => {
      const { lines } = await run(
        [
          'unshare -U true && echo userns-ok || echo userns-refused',
          'unshare -m true && echo mountns-ok || echo mountns-refused',
          'mkdir -p /tmp/m && mount -t tmpfs none /tmp/m && echo mount-ok || echo mount-refused',
          'chroot / true && echo chroot-ok || echo chroot-refused',
          'cat /proc/sys/net/ipv4/ip_unprivileged_port_start',
          'mkdir -p /tmp/www && echo served > /tmp/www/index.html && httpd -p 80 -h /tmp/www && sleep 0.3 && wget -qO- http://127.0.0.1:80/',
        ].join('; '),
        { securityContext: { runAsUser: 1000 } },
      );
      expect(lines.filter((l) => !l.includes(':'))).toEqual(['userns-refused', 'mountns-refused', 'mount-refused', 'chroot-refused', '0', 'served']);
    });

    it('holds exactly the capabilities added back', async () => {
      const { lines } = await run(`${status('CapEff')}; ${status('CapBnd')}`, { securityContext: { addCapabilities: ['CAP_NET_BIND_SERVICE'] } });
      expect(lines.map((l) => l.replace(/\s+/g, ' '))).toEqual(['CapEff: 0000000000000400', 'CapBnd: 0000000000000400']);
    });

    it('a privileged task holds every capability, no filter, may mount, and sees the host devices, in its own namespaces', async () => {
      const { code, lines } = await run(
        [
          `${status('CapEff')}; ${status('CapBnd')}; ${status('NoNewPrivs')}; ${status('Seccomp')}`,
          'mkdir -p /tmp/m && mount -t tmpfs none /tmp/m && echo mount-ok || echo mount-refused',
          'test -c /dev/loop-control && echo host-devices || echo no-host-devices',
          'echo "pid1=$(cat /proc/1/comm)"',
        ].join('; '),
        { securityContext: { privileged: true } },
      );
      expect(code).toBe(0);
      // Every capability the agent (this process) holds: its bounding set, all 41 on most hosts.
      const held = (await readFile('/proc/self/status', 'utf8')).split('\n').find((l) => l.startsWith('CapBnd:'))!.split(/\s+/)[1]!;
      expect(lines.map((l) => l.replace(/\s+/g, ' '))).toEqual([`CapEff: ${held}`, `CapBnd: ${held}`, 'NoNewPrivs: 0', 'Seccomp: 0', 'mount-ok', 'host-devices', 'pid1=sh']);
    });

    it('a read-only root filesystem keeps /tmp and volumes writable', async () => {
      const volumes = [{ name: `ro${randomBytes(3).toString('hex')}`, mountPath: '/data' }];
      const { code, lines } = await run('touch /etc/x 2>/dev/null && echo etc-written || echo etc-refused; touch /tmp/x && echo tmp-written; touch /data/x && echo data-written', {
        securityContext: { readOnlyRootFilesystem: true },
        volumes,
      });
      expect(code).toBe(0);
      expect(lines).toEqual(['etc-refused', 'tmp-written', 'data-written']);
    });

    it('runs as runAsUser / runAsGroup instead of the image user', async () => {
      expect((await run('id -u; id -g', { securityContext: { runAsUser: 1000 } })).lines).toEqual(['1000', '0']);
      expect((await run('id -u; id -g', { securityContext: { runAsUser: 65534 } })).lines).toEqual(['65534', '65534']);
      expect((await run('id -u; id -g', { securityContext: { runAsGroup: 1000 } })).lines).toEqual(['0', '1000']);
    });
  });

  describe('in a user namespace', () => {
    const base = DEFAULT_USER_NAMESPACE_BASE;
    let shiftedDir = '';
    const userns = { securityContext: { userNamespace: true as const } };
    const leftovers = async (h: TaskHandle) => [
      ...(await mountsUnder(h.dir)).map((m) => `mount ${m}`),
      ...(existsSync(join(runcRoot, h.taskId)) ? [`runc state ${h.taskId}`] : []),
      ...(await cgroupDirsNamed(`/berth/${node}/${h.taskId}`)).map((d) => `cgroup ${d}`),
      ...(existsSync(h.dir) ? [`task dir ${h.dir}`] : []),
      ...(h.network && existsSync(h.network.netnsPath) ? [`netns ${h.network.netnsPath}`] : []),
      ...(await mountsUnder(roots())).map((m) => `mount ${m}`),
      ...(existsSync(join(roots(), h.taskId)) ? [`root ${join(roots(), h.taskId)}`] : []),
    ];
    /** Starts `script` as a task and resolves once it has printed `lines` lines (then it must idle). */
    const startAndRead = async (d: RuncDriver, h: TaskHandle, lines: number): Promise<{ pid: number; lines: string[] }> => {
      await d.start(h);
      const status = await d.inspect(h);
      const out: string[] = [];
      for await (const l of d.logs(h, { follow: true })) if (out.push(l.text) === lines) break;
      return { pid: status.state === 'running' ? status.pid : 0, lines: out };
    };

    // The driver's default; the data dir stays 0700 (mkdtemp), which runc could not get through inside the namespace.
    const roots = () => `/run/berth-userns/${node}`;
    beforeAll(() => {
      shiftedDir = join(dataDir, 'images', 'rootfs-shifted');
    });

    it('runs as root inside and as the node’s unprivileged base id outside, on an image copy owned by that range', async () => {
      const d = makeDriver();
      const script = "id -u; id -g; cat /proc/self/uid_map; cat /proc/self/gid_map; grep -E '^(CapEff|NoNewPrivs|Seccomp):' /proc/self/status; touch /made-here; echo done; exec sleep 1000";
      const h = await d.prepare(config('userns', ['sh', '-c', script], userns));
      try {
        const { pid, lines } = await startAndRead(d, h, 8);
        // The hardened defaults hold inside the namespace too.
        expect(lines.map((l) => l.trim().split(/\s+/).join(' '))).toEqual(['0', '0', `0 ${base} 65536`, `0 ${base} 65536`, 'CapEff: 0000000000000000', 'NoNewPrivs: 1', 'Seccomp: 2', 'done']);
        const statusLines = (await readFile(`/proc/${pid}/status`, 'utf8')).split('\n');
        expect(statusLines.find((l) => l.startsWith('Uid:'))?.split(/\s+/).slice(1)).toEqual([`${base}`, `${base}`, `${base}`, `${base}`]);
        expect(statusLines.find((l) => l.startsWith('Gid:'))?.split(/\s+/).slice(1)).toEqual([`${base}`, `${base}`, `${base}`, `${base}`]);
        // What the task writes lands in its own layer, owned by the range's root on the host.
        const made = statSync(join(h.dir, 'upper', 'made-here'));
        expect([made.uid, made.gid]).toEqual([base, base]);
        // The image's root-owned files are the range's root's in the shared copy.
        const copies = readdirSync(shiftedDir);
        expect(copies).toHaveLength(1);
        expect(copies[0]).toMatch(new RegExp(`^[0-9a-f]{64}-${base}$`));
        const busybox = statSync(join(shiftedDir, copies[0]!, 'bin', 'busybox'));
        expect([busybox.uid, busybox.gid]).toEqual([base, base]);
        expect(statSync(join(dataDir, 'images', 'rootfs', copies[0]!.split('-')[0]!, 'bin', 'busybox')).uid).toBe(0);
      } finally {
        await d.destroy(h);
      }
      expect(await leftovers(h)).toEqual([]);
    });

    it('a second task of the image reuses the copy, and a read-only root serves port 80 without a capability', async () => {
      const before = readdirSync(shiftedDir);
      const copy = join(shiftedDir, before[0]!);
      const inode = statSync(copy).ino;
      const d = makeDriver();
      const script = 'touch /etc/x 2>/dev/null && echo etc-written || echo etc-refused; mkdir /tmp/www && echo served > /tmp/www/index.html && httpd -p 80 -h /tmp/www && sleep 0.3 && wget -qO- http://127.0.0.1:80/; echo done; exec sleep 1000';
      const [a, b] = await Promise.all([
        d.prepare(config('userns', ['sh', '-c', script], { securityContext: { userNamespace: true, readOnlyRootFilesystem: true } })),
        d.prepare(config('userns', ['sh', '-c', 'echo done; exec sleep 1000'], userns)),
      ]);
      try {
        expect((await startAndRead(d, a!, 3)).lines).toEqual(['etc-refused', 'served', 'done']);
        expect((await startAndRead(d, b!, 1)).lines).toEqual(['done']);
        expect(readdirSync(shiftedDir)).toEqual(before);
        expect(statSync(copy).ino).toBe(inode);
        expect(readdirSync(join(dataDir, 'images', 'tmp'))).toEqual([]);
      } finally {
        await Promise.all([d.destroy(a!), d.destroy(b!)]);
      }
      expect([...(await leftovers(a!)), ...(await leftovers(b!))]).toEqual([]);
    });

    it('two stores on one data dir building the same copy at once publish one, and leave no temporary copy', async () => {
      const dir = join(dataDir, 'images-race');
      // Pinned and pulled beforehand, so the two stores race on the shifted copy only (two skopeo copies into one layout would collide first).
      const { digest } = await new ImageStore({ dir }).pull(image);
      await new ImageStore({ dir }).pull(image, { digest });
      const drivers = [0, 1].map(() => new RuncDriver({ node, dataDir, images: new ImageStore({ dir }), network, runcRoot }));
      const handles = await Promise.all(drivers.map((d) => d.prepare(config('userns', ['true'], { ...userns, imageDigest: digest }))));
      try {
        expect(readdirSync(join(dir, 'rootfs-shifted'))).toHaveLength(1);
        expect(readdirSync(join(dir, 'tmp'))).toEqual([]);
        for (const [i, d] of drivers.entries()) {
          await d.start(handles[i]!);
          expect(await d.wait(handles[i]!)).toBe(0);
        }
      } finally {
        await Promise.all(handles.map((h, i) => drivers[i]!.destroy(h)));
      }
    });

    it('a task without it is unchanged: host root, the image itself as its lower layer', async () => {
      const d = makeDriver();
      const h = await d.prepare(config('plain', ['sh', '-c', 'cat /proc/self/uid_map; echo done; exec sleep 1000']));
      try {
        const { pid, lines } = await startAndRead(d, h, 2);
        expect(lines.map((l) => l.trim().split(/\s+/).join(' '))).toEqual(['0 0 4294967295', 'done']);
        expect((await readFile(`/proc/${pid}/status`, 'utf8')).split('\n').find((l) => l.startsWith('Uid:'))?.split(/\s+/).slice(1)).toEqual(['0', '0', '0', '0']);
        expect(await readlink(`/proc/${pid}/ns/user`)).toBe(await readlink('/proc/self/ns/user'));
      } finally {
        await d.destroy(h);
      }
    });

    it('shares a volume between user-namespaced tasks, owned by the range on the host; a task without a user namespace is refused it', async () => {
      const d = makeDriver();
      const name = `uv${randomBytes(3).toString('hex')}`;
      const volumes = [{ name, mountPath: '/srv/data' }];
      const writer = await d.prepare(config('userns', ['sh', '-c', 'id -u > /srv/data/who && stat -c "%u %g" /srv/data && echo done; exec sleep 1000'], { ...userns, volumes }));
      let reader: TaskHandle | undefined;
      try {
        expect((await startAndRead(d, writer, 2)).lines).toEqual(['0 0', 'done']);
        // On the host the volume and what the task wrote belong to the range's root.
        const volume = join(dataDir, 'volumes', name);
        expect([statSync(volume).uid, statSync(volume).gid]).toEqual([base, base]);
        expect([statSync(join(volume, 'who')).uid, readFileSync(join(volume, 'who'), 'utf8')]).toEqual([base, '0\n']);
        reader = await d.prepare(config('userns', ['sh', '-c', 'cat /srv/data/who; echo more >> /srv/data/who && echo done; exec sleep 1000'], { ...userns, volumes }));
        expect((await startAndRead(d, reader, 2)).lines).toEqual(['0', 'done']);
        const host = config('plain', ['true'], { volumes });
        await expect(d.prepare(host)).rejects.toThrow(`volume ${name} holds files of user-namespaced tasks (host ids from ${base}), and this task runs without a user namespace`);
        expect(existsSync(join(dataDir, 'tasks', host.taskId))).toBe(false);
      } finally {
        await d.destroy(writer);
        if (reader) await d.destroy(reader);
      }
      for (const h of [writer, ...(reader ? [reader] : [])]) expect(await leftovers(h)).toEqual([]);
      // The other way round: a volume of tasks without a user namespace is refused to one with.
      const plainVolume = `pv${randomBytes(3).toString('hex')}`;
      const plain = await d.prepare(config('plain', ['true'], { volumes: [{ name: plainVolume, mountPath: '/v' }] }));
      await d.destroy(plain);
      const withUserns = config('userns', ['true'], { ...userns, volumes: [{ name: plainVolume, mountPath: '/v' }] });
      await expect(d.prepare(withUserns)).rejects.toThrow(`volume ${plainVolume} holds files of tasks without a user namespace (host ids), and this task runs in a user namespace (host ids from ${base})`);
    });

    it('refuses users the namespace cannot map, leaving nothing behind', async () => {
      const d = makeDriver();
      const highUser = config('userns', ['true'], { securityContext: { userNamespace: true, runAsUser: 70000 } });
      await expect(d.prepare(highUser)).rejects.toThrow(/uid 70000 does not exist in a user namespace/);
      expect(existsSync(join(dataDir, 'tasks', highUser.taskId))).toBe(false);
    });

    it('the shifted copy goes when the image store removes its image', async () => {
      expect(readdirSync(shiftedDir)).toHaveLength(1);
      const removed = await new ImageStore({ dir: join(dataDir, 'images') }).removeUnused({ olderThanMs: 0, inUse: new Set() });
      expect(removed).toHaveLength(1);
      expect(readdirSync(shiftedDir)).toEqual([]);
    });
  });

  it('a failing prepare says why and leaves nothing behind', async () => {
    const d = makeDriver();
    const broken = config('broken', ['no-such-program']);
    const taskDir = join(dataDir, 'tasks', broken.taskId);
    await expect(d.prepare(broken)).rejects.toThrow(new RegExp(`^task ${broken.taskId}: prepare failed: runc create: .*no-such-program.*not found`));
    expect(existsSync(taskDir)).toBe(false);
    expect(existsSync(`/run/netns/berth-${broken.taskId}`)).toBe(false);
    await expect(d.prepare({ ...broken, image: 'oci:/nonexistent/layout:1' })).rejects.toThrow(/pulling image "oci:\/nonexistent\/layout:1" failed/);
    expect(existsSync(taskDir)).toBe(false);
  });
});

async function hostCommandLines(): Promise<string[]> {
  const pids = (await readdir('/proc')).filter((e) => /^\d+$/.test(e));
  const lines = await Promise.all(pids.map((p) => readFile(`/proc/${p}/cmdline`, 'utf8').catch(() => '')));
  return lines.filter(Boolean).map((l) => l.split('\0').join(' '));
}

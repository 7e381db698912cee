import { execFile, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { resolveKernel } from '../../../libs/runtime/src/qemu';
import { BOOTABLE_DISK_TOOLS, diskOsInit, makeBootableDisk } from '../../support/bootable-disk';
import { dhcpServersUnder } from '../../support/node-host';
import { collect, eventually, freePort, isAlive, spawnBerth } from '../support/berth-cli';
import type { NodeJson, ServiceSketch, TaskJson } from '../support/cluster';
import { LabCluster, type LabNode } from '../support/lab-cluster';
import { taskTraces } from '../support/node-traces';
import { describeSamples, readings, Sampler } from '../support/sampler';
import { hostBootId, qemuProcessesMentioning, requireVmHost } from '../support/vm-host';

const exec = promisify(execFile);

/**
 * `runtime: vm` end to end: two hosts (network namespaces) whose agents run VMs, a service of the
 * busybox image running httpd in 2 QEMU microVMs (TCG here: KVM guests hang on this host), booted
 * from the lab's registry, on real CNI. The steps build on each other, in order, on one lab.
 * A TCG boot takes 5–9 s on the idle 2-core host, more under load; timings are printed, never asserted.
 */
const ready = requireVmHost(['etcd', 'runc', 'conmon', 'skopeo', 'umoci', 'busybox', 'curl', 'docker-registry', 'ip', 'nsenter', 'iptables', 'iptables-save', 'nft', 'unshare', ...BOOTABLE_DISK_TOOLS]);

const SERVICE = 'vmweb';
/** A service of a whole OS booted from a disk image (the last step). */
const OS_SERVICE = 'vmos';
// The trap runs only while sh waits (a foreground command would defer it): httpd goes to the background.
const SERVE = [
  'sh',
  '-c',
  [
    "trap 'echo got TERM; exit 0' TERM",
    'cat /proc/sys/kernel/random/boot_id',
    'mkdir -p /www && echo "$VERSION $(cat /proc/sys/kernel/hostname)" > /www/index.html',
    'httpd -f -p 8080 -h /www & wait',
  ].join('; '),
];
const STEP_MS = 240_000;
/** A kernel message as the serial console shows it: `[    0.503296] …`. */
const KERNEL_LINE = /^\[\s*\d+\.\d{6}\] \S/m;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const UUID_LINE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/m;
const log = (line: string) => console.log(`[vm] ${line}`);

async function httpBody(url: string, timeoutMs = 3000): Promise<string | undefined> {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) }).catch(() => undefined);
  return res?.ok ? (await res.text()).trim() : undefined;
}

/**
 * `berth logs -f TASK`, started before the task is stopped: a stopped task is destroyed on its
 * node (its log with it) once the control plane stops assigning it, so only a follower that was
 * already reading sees its last lines.
 */
class LogFollower {
  private static readonly open = new Set<LogFollower>();
  private readonly child: ChildProcess;
  private readonly out: { stdout(): string; stderr(): string };
  private readonly closed: Promise<unknown>;

  constructor(
    readonly taskId: string,
    home: string,
  ) {
    this.child = spawnBerth(['logs', '-f', taskId], { env: { HOME: home } });
    this.out = collect(this.child);
    this.closed = once(this.child, 'close');
    LogFollower.open.add(this);
  }

  static async stopAll(): Promise<void> {
    await Promise.all([...LogFollower.open].map((f) => f.stop()));
  }

  get text(): string {
    return this.out.stdout();
  }

  /** Waits until it printed a line matching `pattern`. */
  async until(pattern: RegExp, deadlineMs = 60_000): Promise<void> {
    await eventually(`berth logs -f ${this.taskId} to print ${pattern}`, async () => (pattern.test(this.text) ? true : undefined), deadlineMs).catch((e: Error) => {
      throw new Error(`${e.message}; it printed:\n${this.text}\n${this.out.stderr()}`);
    });
  }

  async stop(): Promise<void> {
    LogFollower.open.delete(this);
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGINT');
    await this.closed;
  }
}

/** Per second of a sampling, whether any sample in it had an answer: `1`/`0` per second, oldest first. */
function servedSeconds(samples: readonly { at: number; value?: string }[]): string {
  if (samples.length === 0) return '';
  const start = Math.min(...samples.map((s) => s.at));
  const seconds: boolean[] = [];
  for (const s of samples) {
    const i = Math.floor((s.at - start) / 1000);
    seconds[i] = (seconds[i] ?? false) || s.value !== undefined;
  }
  return Array.from(seconds, (x) => (x ? '1' : '0')).join('');
}

describe.runIf(ready)('runtime vm: QEMU microVMs on two hosts (TCG, CNI, published port, rollout, agent restart, graceful stop)', () => {
  let cluster: LabCluster | undefined;
  let hostPort = 0;
  /** Every task id of the service seen, for the final check that nothing of any of them is left. */
  const seen = new Set<string>();
  const lab = (): LabCluster => {
    if (!cluster) throw new Error('the lab did not start');
    return cluster;
  };
  const web = (version: string): ServiceSketch => ({
    name: SERVICE,
    image: lab().image,
    runtime: 'vm',
    vm: { vcpus: 1 },
    replicas: 2,
    command: SERVE,
    env: { VERSION: version },
    memory: '128Mi',
    ports: [{ containerPort: 8080, hostPort }],
    stopGracePeriod: '20s',
    placement: { maxPerNode: 1 },
    update: { monitor: '2s' },
    // Run inside the guest, with the workload's env: healthy only once this version serves.
    healthCheck: { exec: ['sh', '-c', 'wget -qO- http://127.0.0.1:8080/ | grep -q "^$VERSION "'], interval: '2s', timeout: '10s', retries: 3 },
  });
  const remember = (tasks: TaskJson[]): TaskJson[] => {
    for (const t of tasks) seen.add(t.metadata.name);
    return tasks;
  };
  const tasksOf = async () => remember(await lab().api<TaskJson[]>(`/api/v1/tasks?service=${SERVICE}`));
  const running = async () => remember(await lab().cli.running(SERVICE));
  const nodeOf = (t: TaskJson): LabNode => {
    const n = lab().nodes.find((x) => x.name === t.status.node);
    if (!n) throw new Error(`${t.metadata.name} runs on ${t.status.node ?? 'no node'}, not on a lab node`);
    return n;
  };
  /** GET through the task's own address, from the host (namespace) it runs on. */
  const curlTask = async (t: TaskJson): Promise<string | undefined> =>
    exec('nsenter', [`--net=${nodeOf(t).host.netnsPath}`, 'curl', '-sS', '--max-time', '3', `http://${t.status.ip}:8080/`]).then(
      (r) => r.stdout.trim(),
      () => undefined,
    );
  const published = (n: LabNode) => `http://${n.host.address}:${hostPort}/`;
  const allQemuPids = async (): Promise<Map<string, number>> => new Map((await Promise.all(lab().nodes.map((n) => lab().qemuPids(n.index)))).flatMap((m) => [...m]));
  const logsOf = async (id: string, extra: string[] = []) => {
    const r = await lab().cli.run(['logs', id, ...extra]);
    expect(r.code, r.stderr).toBe(0);
    return r.stdout;
  };

  beforeAll(async () => {
    // No agent yet: the first step starts them, to watch them register while the KVM probe runs.
    cluster = await LabCluster.start({ hosts: 2, vms: true, agentsAtStart: 0, tempPrefix: 'berth-e2e-vm-', family: 'bvmt', net: '10.254.0', subnetOctet: 255 });
    hostPort = await freePort();
  }, STEP_MS);

  afterEach(() => LogFollower.stopAll());

  afterAll(async () => {
    if (!cluster) return;
    await cluster.cli.run(['delete', 'service', SERVICE]);
    await cluster.cli.tasksGone(SERVICE).catch(() => undefined);
    await cluster.destroy();
    expect(await cluster.leftovers()).toEqual([]);
  }, STEP_MS);

  it(
    "the agents register at once while the KVM probe runs (qemu: probing); the probe's answer follows as a node update",
    async () => {
      const c = lab();
      const sampler = Sampler.start(() => c.api<NodeJson[]>('/api/v1/nodes'), { everyMs: 100 });
      const startedAt = Date.now();
      try {
        for (const n of c.nodes) await c.startAgent(n.index);
        // Judged on the sampler's own readings, so the samples checked below include the answer.
        await eventually(
          "both nodes ready with the probe's answer",
          async () => {
            const nodes = readings(sampler.samples).at(-1)?.value ?? [];
            const answered = nodes.filter((n) => n.status.state === 'ready' && ['tcg', 'kvm'].includes(n.status.driverDetails?.qemu ?? ''));
            return answered.length === c.nodes.length ? true : undefined;
          },
          120_000,
        );
      } finally {
        await sampler.stop();
      }
      const samples = readings(sampler.samples);
      for (const n of c.nodes) {
        const mine = samples.map((s) => ({ at: s.at, node: s.value.find((x) => x.metadata.name === n.name) }));
        const firstReady = mine.find((s) => s.node?.status.state === 'ready');
        const answered = mine.find((s) => ['tcg', 'kvm'].includes(s.node?.status.driverDetails?.qemu ?? ''));
        expect(firstReady, `${n.name}: ${describeSamples(sampler.samples)}`).toBeDefined();
        expect(answered).toBeDefined();
        // Registered before the probe ended: the Hello said "probing", and the answer came later.
        expect(firstReady!.node!.status.driverDetails, `${n.name} when it first was ready`).toEqual({ qemu: 'probing' });
        expect(firstReady!.at).toBeLessThan(answered!.at);
        expect(answered!.node!.status.drivers).toEqual(expect.arrayContaining(['runc', 'qemu']));
        log(`${n.name}: ready ${((firstReady!.at - startedAt) / 1000).toFixed(1)} s after its agent started, qemu: ${answered!.node!.status.driverDetails!.qemu} ${((answered!.at - startedAt) / 1000).toFixed(1)} s`);
      }
      const accel = samples.at(-1)!.value.find((x) => x.metadata.name === c.nodes[0]!.name)!.status.driverDetails!.qemu!;
      // This host's KVM hangs guests: the probe must have found that out.
      expect(accel).toBe('tcg');
      const wide = await c.cli.run(['get', 'nodes', '-o', 'wide']);
      expect(wide.code, wide.stderr).toBe(0);
      for (const n of c.nodes) expect(wide.stdout.split('\n').find((l) => l.startsWith(n.name))).toContain('runc, qemu (tcg)');
    },
    STEP_MS,
  );

  it(
    'apply --wait boots 2 VMs, one per host, each with its own address and a QEMU with a pid file',
    async () => {
      const c = lab();
      const appliedAt = Date.now();
      const r = await c.cli.apply(web('v1'), ['--wait', '--timeout', '180s']);
      expect(r.code, `${r.stdout}\n${r.stderr}\n${c.logTail()}`).toBe(0);
      log(`apply --wait of 2 VMs: ${((Date.now() - appliedAt) / 1000).toFixed(1)} s`);
      const tasks = await running();
      expect(tasks).toHaveLength(2);
      expect(tasks.map((t) => t.status.node).sort()).toEqual(c.nodes.map((n) => n.name).sort());
      const pids = await allQemuPids();
      for (const t of tasks) {
        const n = nodeOf(t);
        expect(t.status.ip, t.metadata.name).toMatch(new RegExp(`^10\\.255\\.${n.index}\\.\\d+$`));
        const pid = pids.get(t.metadata.name);
        expect(pid, `QEMU pid file of ${t.metadata.name}`).toBeDefined();
        expect(t.status.pid, `${t.metadata.name}: the task's pid is its QEMU's`).toBe(pid);
        expect(qemuProcessesMentioning(t.metadata.name)).toEqual([pid]);
        // --wait waited for the exec check, which ran inside the guest.
        expect(t.status.health, t.metadata.name).toBe('healthy');
      }
    },
    STEP_MS,
  );

  it(
    'berth exec runs a command inside the guest: its own kernel, the workload’s env and hostname, stdin, the exit code',
    async () => {
      for (const t of await running()) {
        const r = await lab().cli.run(['exec', '-i', t.metadata.name, '--', 'sh', '-c', 'cat /proc/sys/kernel/random/boot_id; echo "$VERSION $(hostname)"; read x; echo "got $x" >&2; exit 7'], 'typed\n');
        expect(r.code, r.stderr).toBe(7);
        const [bootId, envLine] = r.stdout.trim().split('\n');
        expect(bootId).toMatch(UUID);
        expect(bootId).not.toBe(hostBootId());
        expect(envLine).toBe(`v1 ${t.metadata.name}`);
        expect(r.stderr).toBe('got typed\n');
      }
      const [first] = await running();
      const missing = await lab().cli.run(['exec', first!.metadata.name, '--', 'no-such-command']);
      expect(missing.code).toBe(127);
    },
    STEP_MS,
  );

  it(
    "each VM answers on its own address, and on the published port of its host",
    async () => {
      for (const t of await running()) {
        const direct = await eventually(`${t.metadata.name} on ${t.status.ip}`, () => curlTask(t), 30_000);
        expect(direct).toBe(`v1 ${t.metadata.name}`);
        const n = nodeOf(t);
        const viaPort = await eventually(published(n), () => httpBody(published(n)), 30_000);
        expect(viaPort).toBe(`v1 ${t.metadata.name}`);
      }
    },
    STEP_MS,
  );

  it(
    "berth logs shows the workload's output (a boot id of its own kernel); --console the guest's boot",
    async () => {
      const ids: string[] = [];
      for (const t of await running()) {
        const out = await logsOf(t.metadata.name);
        const bootId = out.split('\n').find((l) => UUID.test(l.trim()))?.trim();
        expect(bootId, `berth logs ${t.metadata.name}:\n${out}`).toBeDefined();
        ids.push(bootId!);
        // The guest boots with `quiet`: the console holds the kernel's warnings (printk lines), not its whole boot.
        const bootConsole = await logsOf(t.metadata.name, ['--console']);
        expect(bootConsole, bootConsole).toMatch(KERNEL_LINE);
        expect(out).not.toMatch(KERNEL_LINE); // two streams: the workload's output is not the console
      }
      expect(ids).not.toContain(hostBootId());
      expect(new Set(ids).size).toBe(2);
    },
    STEP_MS,
  );

  it(
    'a rolling update (another env) replaces the VMs one by one; the published ports keep answering; the old VMs stop on SIGTERM',
    async () => {
      const c = lab();
      const old = await running();
      const oldIds = new Set(old.map((t) => t.metadata.name));
      const followers = old.map((t) => new LogFollower(t.metadata.name, c.home));
      for (const f of followers) await f.until(UUID_LINE, 30_000);
      // What a user of each host's published port sees, and what runs, throughout the rollout.
      const users = c.nodes.map((n) => Sampler.start(() => httpBody(published(n), 2000).then((b) => b ?? Promise.reject(new Error('no answer'))), { everyMs: 250 }));
      const runningIds = Sampler.start(async () => (await tasksOf()).filter((t) => t.status.state === 'running' && t.spec.desiredState === 'running').map((t) => t.metadata.name), {
        everyMs: 250,
      });
      const startedAt = Date.now();
      let r;
      try {
        r = await c.cli.apply(web('v2'), ['--wait', '--timeout', '240s']);
      } finally {
        for (const u of users) await u.stop();
        await runningIds.stop();
      }
      expect(r.code, `${r.stdout}\n${r.stderr}\n${c.logTail()}`).toBe(0);
      log(`rolling update of 2 VMs: ${((Date.now() - startedAt) / 1000).toFixed(1)} s`);
      const now = await running();
      expect(now).toHaveLength(2);
      const doneAt = Date.now();
      for (const t of now) {
        expect(oldIds.has(t.metadata.name)).toBe(false);
        expect(await eventually(`${t.metadata.name} to answer`, () => curlTask(t), 30_000)).toBe(`v2 ${t.metadata.name}`);
        const since = (at: number) => ((at - startedAt) / 1000).toFixed(1);
        log(`${t.metadata.name} on ${t.status.node}: running at ${since(Date.parse(t.status.startedAt!))} s, the rollout done at ${since(doneAt)} s, answering on its address at ${since(Date.now())} s`);
      }
      // One by one: never were both slots down, and the second VM was created after the first new one ran.
      const counts = readings(runningIds.samples).map((s) => s.value.length);
      expect(Math.min(...counts), describeSamples(runningIds.samples)).toBeGreaterThanOrEqual(1);
      const fresh = [...now].sort((a, b) => Date.parse(a.metadata.createdAt!) - Date.parse(b.metadata.createdAt!));
      expect(Date.parse(fresh[1]!.metadata.createdAt!)).toBeGreaterThanOrEqual(Date.parse(fresh[0]!.status.startedAt!));
      // The users' view: per second, did the published port answer (on each host, and on some host)?
      const all = users.flatMap((u) => u.samples);
      const perNode = users.map((u, i) => `${c.nodes[i]!.name}: ${servedSeconds(u.samples)}`);
      const some = servedSeconds(all);
      log(`published port answered, per second of the rollout (1 = answered):\n  ${perNode.join('\n  ')}\n  some host: ${some}`);
      expect(some.split('').filter((x) => x === '1').length / some.length, some).toBeGreaterThanOrEqual(0.5);
      const versions = new Set(readings(all).map((s) => s.value.split(' ')[0]));
      expect([...versions].sort()).toEqual(['v1', 'v2']);
      // The replaced VMs were stopped gracefully: the workload got SIGTERM, said so and exited 0.
      for (const f of followers) await f.until(/got TERM/);
      const replaced = (await tasksOf()).filter((t) => oldIds.has(t.metadata.name));
      expect(replaced).toHaveLength(2);
      for (const t of replaced) {
        expect(t.status.exitCode, `${t.metadata.name}: ${t.status.state} ${t.status.message ?? ''}`).toBe(0);
        expect(qemuProcessesMentioning(t.metadata.name)).toEqual([]);
      }
    },
    STEP_MS,
  );

  it(
    'kill -9 of both agents leaves the VMs running; restarted, they re-adopt the same QEMUs and tasks',
    async () => {
      const c = lab();
      const before = await running();
      const allBefore = new Set((await tasksOf()).map((t) => t.metadata.name));
      const pidsBefore = await allQemuPids();
      expect(before).toHaveLength(2);
      const bootIds = new Map<string, string>();
      for (const t of before) bootIds.set(t.metadata.name, (await logsOf(t.metadata.name)).split('\n').find((l) => UUID.test(l))!);
      for (const n of c.nodes) await c.killAgent(n.index);
      const killedAt = Date.now();
      for (const t of before) {
        expect(isAlive(pidsBefore.get(t.metadata.name)!), t.metadata.name).toBe(true);
        const body = await eventually(`${published(nodeOf(t))} with no agent`, () => httpBody(published(nodeOf(t))), 30_000);
        expect(body).toBe(`v2 ${t.metadata.name}`);
      }
      log(`agents killed → both VMs answered on their published ports: ${((Date.now() - killedAt) / 1000).toFixed(1)} s`);
      const restartedAt = Date.now();
      for (const n of c.nodes) await c.startAgent(n.index);
      await c.cli.readyNodes(2, 120_000);
      const after = await eventually(
        'both VM tasks reported running again',
        async () => {
          const tasks = await running();
          return tasks.length === 2 ? tasks : undefined;
        },
        120_000,
      );
      log(`agents restarted → both VM tasks reported running: ${((Date.now() - restartedAt) / 1000).toFixed(1)} s`);
      const byId = (tasks: TaskJson[]) => Object.fromEntries(tasks.map((t) => [t.metadata.name, t.status.pid]));
      expect(byId(after)).toEqual(byId(before));
      const pidsAfter = await allQemuPids();
      for (const t of after) {
        expect(pidsAfter.get(t.metadata.name)).toBe(pidsBefore.get(t.metadata.name));
        expect(qemuProcessesMentioning(t.metadata.name)).toEqual([pidsBefore.get(t.metadata.name)]);
        expect(await eventually(published(nodeOf(t)), () => httpBody(published(nodeOf(t))), 30_000)).toBe(`v2 ${t.metadata.name}`);
        // Served by the restarted agent (logs go through its session): the same guest, never rebooted.
        const out = await eventually(`berth logs ${t.metadata.name} through the restarted agent`, async () => {
          const r = await c.cli.run(['logs', t.metadata.name]);
          return r.code === 0 ? r.stdout : undefined;
        });
        expect(out.split('\n').filter((l) => UUID.test(l))).toEqual([bootIds.get(t.metadata.name)]);
      }
      const created = (await tasksOf()).map((t) => t.metadata.name).filter((id) => !allBefore.has(id));
      expect(created, 'tasks created after the restart').toEqual([]);
    },
    STEP_MS,
  );

  it(
    'scale to 1 stops one VM gracefully: its workload logs "got TERM" and exits 0, its QEMU ends and the node removes it',
    async () => {
      const c = lab();
      const two = await running();
      const followers = new Map(two.map((t) => [t.metadata.name, new LogFollower(t.metadata.name, c.home)]));
      for (const f of followers.values()) await f.until(UUID_LINE, 30_000);
      const r = await c.cli.run(['scale', `${SERVICE}=1`, '--wait', '--timeout', '120s']);
      expect(r.code, r.stderr).toBe(0);
      const kept = await running();
      expect(kept).toHaveLength(1);
      const stopped = two.find((t) => t.metadata.name !== kept[0]!.metadata.name)!;
      await followers.get(stopped.metadata.name)!.until(/got TERM/);
      expect(followers.get(kept[0]!.metadata.name)!.text).not.toContain('got TERM');
      const record = await eventually(
        `${stopped.metadata.name} to end`,
        async () => (await tasksOf()).find((t) => t.metadata.name === stopped.metadata.name && t.status.exitCode !== undefined),
        60_000,
      );
      expect(record.status.exitCode, `${record.status.state} ${record.status.message ?? ''}`).toBe(0);
      const n = nodeOf(stopped);
      const traces = async () => [
        ...qemuProcessesMentioning(stopped.metadata.name).map((pid) => `QEMU ${pid}`),
        ...(existsSync(join(n.dataDir, 'vm', 'tasks', stopped.metadata.name)) ? ['task dir'] : []),
        ...(await taskTraces({ node: n.name, runcRoot: n.runcRoot, dataDir: n.dataDir }, [stopped.metadata.name])),
      ];
      await eventually(`${n.name} to remove ${stopped.metadata.name}`, async () => ((await traces()).length === 0 ? true : undefined), 60_000).catch(() => undefined);
      expect(await traces()).toEqual([]);
    },
    STEP_MS,
  );

  it(
    'delete stops the last VM gracefully ("got TERM" before it goes) and leaves no QEMU, tap, mount, namespace, cgroup or task dir of any task',
    async () => {
      const c = lab();
      const [last] = await running();
      expect(last).toBeDefined();
      await tasksOf();
      const follower = new LogFollower(last!.metadata.name, c.home);
      await follower.until(UUID_LINE, 30_000);
      const r = await c.cli.run(['delete', 'service', SERVICE]);
      expect(r).toEqual({ code: 0, stdout: `service/${SERVICE} deleted\n`, stderr: '' });
      await follower.until(/got TERM/);
      await c.cli.tasksGone(SERVICE);
      const ids = [...seen];
      const traces = async (): Promise<string[]> => {
        const left: string[] = [];
        for (const n of c.nodes) {
          left.push(...(await taskTraces({ node: n.name, runcRoot: n.runcRoot, dataDir: n.dataDir }, ids)));
          for (const id of ids) if (existsSync(join(n.dataDir, 'vm', 'tasks', id))) left.push(`task dir ${id} on ${n.name}`);
          // Each VM's tap sat in its task namespace (checked above), bridged to the CNI veth on the node's bridge.
          const ports = (await c.ipIn(n.index, ['-o', 'link', 'show', 'master', n.bridge]).catch(() => '')).trim();
          if (ports) left.push(`links on ${n.bridge} of ${n.name}: ${ports}`);
        }
        for (const id of ids) for (const pid of qemuProcessesMentioning(id)) left.push(`QEMU ${pid} of ${id}`);
        return left;
      };
      await eventually('the agents to remove every trace of the VMs', async () => ((await traces()).length === 0 ? true : undefined), 60_000).catch(() => undefined);
      expect(await traces()).toEqual([]);
      expect(ids.length).toBeGreaterThanOrEqual(4);
    },
    STEP_MS,
  );

  it(
    'a whole OS from a disk image booted by its own bootloader (vm.disk, no vm.kernel): DHCP gives it the task address, it serves on the published port, logs show its console, delete powers it off through ACPI and leaves nothing',
    async () => {
      const c = lab();
      const dir = await mkdtemp(join(tmpdir(), 'berth-e2e-vmos-'));
      try {
        const disk = await makeBootableDisk(dir, await resolveKernel(), diskOsInit({ dhcp: true }));
        const baseSum = createHash('sha256').update(await readFile(disk)).digest('hex');
        const os: ServiceSketch = {
          name: OS_SERVICE,
          runtime: 'vm',
          vm: { vcpus: 1, disk },
          replicas: 1,
          memory: '256Mi',
          ports: [{ containerPort: 8080, hostPort }],
          stopGracePeriod: '60s',
          healthCheck: { http: { port: 8080 }, interval: '2s', timeout: '5s', retries: 3 },
        };
        const appliedAt = Date.now();
        const r = await c.cli.apply(os, ['--wait', '--timeout', '180s']);
        expect(r.code, `${r.stdout}${r.stderr}`).toBe(0);
        log(`apply --wait of a bootloader disk VM: ${((Date.now() - appliedAt) / 1000).toFixed(1)} s`);
        const [t] = await c.cli.running(OS_SERVICE);
        expect(t).toBeDefined();
        const page = await eventually(published(nodeOf(t!)), () => httpBody(published(nodeOf(t!))), 30_000);
        expect(page).toMatch(/^disk-vm [0-9a-f-]{36}$/);
        expect(page).not.toContain(hostBootId());
        expect(await curlTask(t!)).toBe(page);
        expect(await logsOf(t!.metadata.name)).toContain(`dhcp: eth0 has ${t!.status.ip}/`);
        const described = await c.cli.run(['describe', 'service', OS_SERVICE]);
        expect(described.stdout).toMatch(/VM kernel:\s+none: the disk's own bootloader boots it/);
        expect(described.stdout).toContain(`${disk} (copy-on-write overlay per task)`);

        const follower = new LogFollower(t!.metadata.name, c.home);
        await follower.until(/disk-init: waiting for the power button/, 60_000);
        const d = await c.cli.run(['delete', 'service', OS_SERVICE]);
        expect(d.code, d.stderr).toBe(0);
        await follower.until(/disk-init: power button pressed, powering off/);
        await c.cli.tasksGone(OS_SERVICE);
        const n = nodeOf(t!);
        const traces = async () => [
          ...qemuProcessesMentioning(t!.metadata.name).map((pid) => `QEMU ${pid}`),
          ...(await dhcpServersUnder(n.dataDir)).map((p) => `DHCP server ${p.pid}`),
          ...(existsSync(join(n.dataDir, 'vm', 'tasks', t!.metadata.name)) ? ['task dir'] : []),
          ...(await taskTraces({ node: n.name, runcRoot: n.runcRoot, dataDir: n.dataDir }, [t!.metadata.name])),
        ];
        await eventually(`${n.name} to remove ${t!.metadata.name}`, async () => ((await traces()).length === 0 ? true : undefined), 60_000).catch(() => undefined);
        expect(await traces()).toEqual([]);
        // The guest wrote to its disk (its web root): into the task's overlay, never into the image.
        expect(createHash('sha256').update(await readFile(disk)).digest('hex')).toBe(baseSum);
      } finally {
        await lab().cli.run(['delete', 'service', OS_SERVICE]);
        await rm(dir, { recursive: true, force: true });
      }
    },
    STEP_MS,
  );
});

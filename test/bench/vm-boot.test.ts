import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_VM_MEMORY_MIB, QEMU_MEMORY_OVERHEAD_MIB, type Accel } from '@berth/runtime';
import { eventually } from '../e2e/support/berth-cli';
import { serviceManifest, type NodeJson, type ServiceSketch, type TaskJson } from '../e2e/support/cluster';
import { LabCluster } from '../e2e/support/lab-cluster';
import { requireVmHost } from '../e2e/support/vm-host';
import { cgroupDirsNamed } from '../support/node-host';
import { timeBareQemu } from './bare-qemu';

/**
 * VM tasks: how long from `berth apply` until a `runtime: vm` task runs, beside a bare QEMU boot of
 * the same kernel and guest initramfs to the same point (the guest init's `running`) and beside a
 * container of the same image, in the same run on one lab host (a network namespace with its own
 * agent, QEMU under TCG here). Then what a VM task costs in host memory. Figures are printed (and
 * written to $BERTH_BENCH_OUT.vm.json when set), never asserted; what is asserted is that the runs
 * were real — every task ran.
 */
const ready = requireVmHost(['etcd', 'runc', 'conmon', 'skopeo', 'umoci', 'busybox', 'docker-registry', 'ip', 'nsenter', 'iptables', 'nft', 'unshare']);

const COMMAND = ['sleep', '3600'];
const RUNS = 5;
const MiB = 1024 * 1024;

interface Figure {
  readonly what: string;
  readonly value: number;
  readonly unit: 's' | 'MiB' | '×';
  readonly note?: string;
}

/** When one task was first seen in each state, in seconds since the apply was sent. */
type Timeline = Partial<Record<'preparing' | 'starting' | 'running', number>>;

interface Run {
  readonly apiSeconds: number;
  readonly cliSeconds: number;
  readonly timeline: Timeline;
}

const sorted = (xs: readonly number[]) => [...xs].sort((a, b) => a - b);
const median = (xs: readonly number[]): number => sorted(xs)[Math.floor(xs.length / 2)]!;
const spread = (xs: readonly number[]) => `median of ${xs.length}, min ${sorted(xs)[0]!.toFixed(3)}, max ${sorted(xs).at(-1)!.toFixed(3)}`;

describe.runIf(ready)('VM task benchmark: apply → running, beside a bare QEMU boot and a container', () => {
  let cluster: LabCluster;
  let accel: Accel = 'tcg';
  const figures: Figure[] = [];
  const medians: Record<string, number> = {};
  let counter = 0;

  beforeAll(async () => {
    cluster = await LabCluster.start({ hosts: 1, vms: true, tempPrefix: 'berth-bench-vm-', family: 'bvmb', net: '10.238.0', subnetOctet: 239 });
    // The KVM probe boots a guest of its own: wait it out, so it takes no CPU from the figures.
    const node = await eventually(
      "the node's KVM probe to answer",
      async () => (await cluster.api<NodeJson[]>('/api/v1/nodes')).find((n) => n.status.driverDetails?.qemu && n.status.driverDetails.qemu !== 'probing'),
      120_000,
    );
    accel = node.status.driverDetails!.qemu as Accel;
    // Pull once and build the boot kit once, as a node has after its first VM: the figures are starts, not downloads.
    await converge('vm');
    await converge('container');
  });

  afterAll(async () => {
    await cluster?.destroy();
    const lines = figures.map((f) => `${f.what.padEnd(60)} ${f.value.toFixed(f.unit === 'MiB' ? 1 : 3).padStart(8)} ${f.unit}${f.note ? `  (${f.note})` : ''}`);
    console.log(`\nberth VM task benchmark (${new Date().toISOString()}, QEMU under ${accel.toUpperCase()})\n${lines.join('\n')}\n`);
    if (process.env.BERTH_BENCH_OUT) await writeFile(`${process.env.BERTH_BENCH_OUT}.vm.json`, JSON.stringify(figures, null, 2));
    if (cluster) expect(await cluster.leftovers()).toEqual([]);
  });

  const sketch = (runtime: 'vm' | 'container'): ServiceSketch => ({
    name: `${runtime === 'vm' ? 'vm' : 'ct'}${++counter}`,
    image: cluster.image,
    runtime,
    command: COMMAND,
    stopGracePeriod: '1s',
  });

  /** Applies a fresh one-replica service, times it to running (API and CLI), then deletes it. */
  async function converge(runtime: 'vm' | 'container'): Promise<Run> {
    const s = sketch(runtime);
    const path = join(cluster.workDir, `${s.name}.yaml`);
    await writeFile(path, serviceManifest(s));
    const started = performance.now();
    const cli = cluster.cli.run(['apply', '-f', path, '--wait', '--timeout', '5m']);
    const timeline = await untilRunning(s.name, started);
    const r = await cli;
    const cliSeconds = (performance.now() - started) / 1000;
    expect(r.code, `${r.stderr}\n${cluster.logTail()}`).toBe(0);
    expect(await cluster.cli.running(s.name)).toHaveLength(1);
    expect((await cluster.cli.run(['delete', 'service', s.name])).code).toBe(0);
    await cluster.cli.tasksGone(s.name, 120_000);
    return { apiSeconds: timeline.running!, cliSeconds, timeline };
  }

  /** Polls the service's task every 25 ms and notes when it was first seen preparing, starting and running. */
  async function untilRunning(service: string, started: number): Promise<Timeline> {
    const seen: Timeline = {};
    for (;;) {
      const tasks = await cluster.api<TaskJson[]>(`/api/v1/tasks?service=${service}`).catch(() => [] as TaskJson[]);
      const state = tasks[0]?.status.state;
      const at = (performance.now() - started) / 1000;
      if (state === 'preparing' || state === 'starting' || state === 'running') seen[state] ??= at;
      if (state === 'running') return seen;
      if (at > 300) throw new Error(`${service} did not run within 5 minutes (last state: ${state ?? 'none'})`);
      await sleep(25);
    }
  }

  function record(label: string, runs: readonly Run[]): void {
    const api = runs.map((r) => r.apiSeconds);
    medians[label] = median(api);
    figures.push({ what: `${label}: apply → running (API)`, value: median(api), unit: 's', note: spread(api) });
    figures.push({ what: `${label}: berth apply --wait (CLI wall time)`, value: median(runs.map((r) => r.cliSeconds)), unit: 's', note: spread(runs.map((r) => r.cliSeconds)) });
    const boot = runs.filter((r) => r.timeline.starting !== undefined).map((r) => r.timeline.running! - r.timeline.starting!);
    if (boot.length > 0) figures.push({ what: `${label}: starting → running (the driver's start)`, value: median(boot), unit: 's', note: spread(boot) });
  }

  it('bare QEMU: the driver’s arguments, same kernel and initramfs → guest init `running`', async () => {
    const boots = await timeBareQemu(cluster.layout, COMMAND, { runs: RUNS, memoryMiB: DEFAULT_VM_MEMORY_MIB, accel });
    const running = boots.map((b) => b.runningSeconds);
    medians.bare = median(running);
    figures.push({ what: `bare qemu -daemonize → guest running`, value: median(running), unit: 's', note: spread(running) });
    figures.push({ what: `bare qemu -daemonize → QEMU daemonized`, value: median(boots.map((b) => b.daemonizedSeconds)), unit: 's', note: spread(boots.map((b) => b.daemonizedSeconds)) });
  });

  it('berth VM task (runtime vm, 1 replica): apply → running', async () => {
    const runs: Run[] = [];
    for (let i = 0; i < RUNS; i++) runs.push(await converge('vm'));
    record('berth VM task', runs);
    if (medians.bare !== undefined) figures.push({ what: 'ratio VM task (API) / bare QEMU boot', value: medians['berth VM task']! / medians.bare, unit: '×', note: 'goal ≤ 1.2×' });
  });

  it('berth container of the same image (1 replica): apply → running', async () => {
    const runs: Run[] = [];
    for (let i = 0; i < RUNS; i++) runs.push(await converge('container'));
    record('berth container', runs);
  });

  it('host memory of one idle VM task, beside a container of the same workload', async () => {
    const node = cluster.nodes[0]!;
    const vm = sketch('vm');
    const ct = sketch('container');
    for (const s of [vm, ct]) expect((await cluster.cli.apply(s, ['--wait', '--timeout', '5m'])).code).toBe(0);
    await sleep(5000); // let the guest settle after boot
    const [vmTask] = await cluster.cli.running(vm.name);
    const [ctTask] = await cluster.cli.running(ct.name);
    const vmMem = await cgroupMemory(`/berth/${node.name}/${vmTask!.metadata.name}`);
    const ctMem = await cgroupMemory(`/berth/${node.name}/${ctTask!.metadata.name}`);
    const qemuPid = (await cluster.qemuPids(0)).get(vmTask!.metadata.name);
    const rss = qemuPid === undefined ? undefined : await rssOf(qemuPid);
    figures.push({ what: 'VM task: guest RAM configured', value: DEFAULT_VM_MEMORY_MIB, unit: 'MiB', note: `cgroup limit ${DEFAULT_VM_MEMORY_MIB + QEMU_MEMORY_OVERHEAD_MIB} MiB = RAM + ${QEMU_MEMORY_OVERHEAD_MIB}` });
    figures.push({ what: 'VM task: host memory charged to its cgroup', value: vmMem.usage / MiB, unit: 'MiB', note: `rss ${(vmMem.rss / MiB).toFixed(1)}, page cache ${(vmMem.cache / MiB).toFixed(1)}` });
    if (rss !== undefined) figures.push({ what: 'VM task: QEMU process RSS', value: rss / MiB, unit: 'MiB', note: 'guest RAM it touched + QEMU itself' });
    figures.push({ what: 'container task: host memory charged to its cgroup', value: ctMem.usage / MiB, unit: 'MiB', note: `rss ${(ctMem.rss / MiB).toFixed(1)}, page cache ${(ctMem.cache / MiB).toFixed(1)}` });
    figures.push({ what: 'memory overhead per VM task (VM cgroup − container cgroup)', value: (vmMem.usage - ctMem.usage) / MiB, unit: 'MiB' });
    for (const s of [vm, ct]) {
      expect((await cluster.cli.run(['delete', 'service', s.name])).code).toBe(0);
      await cluster.cli.tasksGone(s.name, 120_000);
    }
  });
});

/** A task cgroup's memory as the kernel accounts it (v1 or v2): usage, and its anonymous and page-cache parts. */
async function cgroupMemory(rel: string): Promise<{ usage: number; rss: number; cache: number }> {
  for (const dir of await cgroupDirsNamed(rel)) {
    const v1 = await readFile(join(dir, 'memory.usage_in_bytes'), 'utf8').catch(() => undefined);
    const v2 = v1 === undefined ? await readFile(join(dir, 'memory.current'), 'utf8').catch(() => undefined) : undefined;
    if (v1 === undefined && v2 === undefined) continue;
    const stat = Object.fromEntries(
      (await readFile(join(dir, 'memory.stat'), 'utf8'))
        .split('\n')
        .filter(Boolean)
        .map((l) => l.split(' ') as [string, string]),
    );
    const n = (k: string) => Number(stat[k] ?? 0);
    return v1 !== undefined ? { usage: Number(v1), rss: n('rss'), cache: n('cache') } : { usage: Number(v2), rss: n('anon'), cache: n('file') };
  }
  throw new Error(`no memory cgroup ${rel}`);
}

async function rssOf(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? 0) * 1024;
}

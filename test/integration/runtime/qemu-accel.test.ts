import { chmod, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ImageStore, probeAcceleration, QemuDriver } from '@berth/runtime';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { guestInitramfs, resolveKernel } from '../../../libs/runtime/src/qemu';
import { requireTools } from '../../support/prereq';

// KVM on this host is nested and its guests hang at boot (or QEMU refuses it): the probe must
// say so and answer TCG, without hanging and without leaving anything behind.
const ready = requireTools(['qemu-system-x86_64', 'busybox'], { root: true });

describe.runIf(ready)('qemu acceleration probe', () => {
  let dataDir = '';
  let kernel = '';
  let initrd = '';
  let qemu = '';
  let runs = '';

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'berth-accel-'));
    const k = await resolveKernel();
    kernel = k.path;
    initrd = await guestInitramfs(k, join(dataDir, 'qemu'));
    // QEMU behind a wrapper that counts its starts (exec keeps the pid the probe kills).
    runs = join(dataDir, 'qemu-runs');
    qemu = join(dataDir, 'qemu-counted');
    await writeFile(qemu, `#!/bin/sh\necho $$ >> ${runs}\nexec qemu-system-x86_64 "$@"\n`);
    await chmod(qemu, 0o755);
  });

  // The pids of the QEMUs the probe started (the wrapper execs QEMU: same pid).
  const started = async () => (await readFile(runs, 'utf8').catch(() => '')).split('\n').filter(Boolean).map(Number);
  const starts = async () => (await started()).length;
  const running = async () => (await Promise.all((await started()).map(async (pid) => ((await alive(pid)) ? [pid] : [])))).flat();

  afterAll(async () => {
    if (!dataDir) return;
    for (const pid of await running()) process.kill(pid, 'SIGKILL');
    await rm(dataDir, { recursive: true, force: true });
  });

  it('answers tcg with the KVM failure as reason, never hangs, leaves no QEMU or probe files, and caches its answer', async () => {
    const began = Date.now();
    const first = await probeAcceleration({ qemu, kernel, initrd, dataDir });
    const tookMs = Date.now() - began;
    console.log(`acceleration probe: ${JSON.stringify(first)} in ${tookMs} ms`);
    // A bound against hanging, not a speed figure: the probe's own deadline is 5 s.
    expect(tookMs).toBeLessThan(30_000);
    expect(first.accel).toBe('tcg');
    expect(first.reason).toMatch(/KVM/);
    expect(await starts()).toBe(1);
    expect(await running()).toEqual([]);
    expect((await readdir(join(dataDir, 'qemu'))).filter((n) => n.startsWith('probe-'))).toEqual([]);

    const cacheFile = join(dataDir, 'qemu', 'accel.json');
    const bootId = (await readFile('/proc/sys/kernel/random/boot_id', 'utf8')).trim();
    expect(JSON.parse(await readFile(cacheFile, 'utf8'))).toMatchObject({ bootId, qemu, kernel, ...first });
    const written = (await stat(cacheFile)).mtimeMs;

    // Same boot, QEMU and kernel: a cache hit, no QEMU started, the file untouched.
    expect(await probeAcceleration({ qemu, kernel, initrd, dataDir })).toEqual(first);
    expect(await starts()).toBe(1);
    expect((await stat(cacheFile)).mtimeMs).toBe(written);
  });

  it("the driver's acceleration() probes with its default kernel once, and reports the same answer", async () => {
    const driver = new QemuDriver({ node: 'accel', dataDir, images: new ImageStore({ dir: join(dataDir, 'images') }), qemu });
    const before = await starts();
    const answer = await driver.acceleration();
    expect(answer.accel).toBe('tcg');
    expect(answer.reason).toMatch(/KVM/);
    expect(await driver.acceleration()).toBe(answer);
    // The first test left the answer for this boot, QEMU and (default) kernel.
    expect(await starts()).toBe(before);
    expect(await running()).toEqual([]);
  });
});

/** True while process `pid` runs (a zombie has ended). */
async function alive(pid: number): Promise<boolean> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  return stat !== '' && !/^[ZX]/.test(stat.slice(stat.lastIndexOf(')') + 2));
}

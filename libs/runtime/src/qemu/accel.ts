import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, open, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { GUEST_PORTS, guestCommandLine } from './guest-protocol';
import { MIN_VM_MEMORY_MIB, qemuOptionValue, type Accel } from './qemu-args';
import { consoleTail, guestStatuses } from './vm-state';

/** What a node's VMs run under, and why: the probe's own words (a KVM failure is named). */
export interface Acceleration {
  readonly accel: Accel;
  readonly reason: string;
}

export interface AccelerationProbeOptions {
  /** The QEMU binary VMs are started with. */
  readonly qemu: string;
  /** The boot kit the probe guest boots: the same kernel and initramfs as the node's VMs. */
  readonly kernel: string;
  readonly initrd: string;
  /** The agent's data directory: the probe works in `<dataDir>/qemu/probe-*` and caches in `<dataDir>/qemu/accel.json`. */
  readonly dataDir: string;
  /** How long the probe guest may take to reach its init under KVM. Default 5 s (a KVM guest takes well under 1). */
  readonly timeoutMs?: number;
}

/** What the cache is keyed by: a reboot, another QEMU or another kernel probes again. */
export interface AccelerationCacheKey {
  readonly bootId: string;
  readonly qemu: string;
  readonly kernel: string;
}

const KVM_DEVICE = '/dev/kvm';

/**
 * Whether this node's VMs can run under KVM: 'kvm' only if /dev/kvm opens read-write and a probe
 * guest booted with `-accel kvm` (the given kernel and initramfs) reaches its init within
 * `timeoutMs`; otherwise 'tcg', with a reason naming what failed. KVM can be present and still
 * unusable (nested virtualisation where guests hang at boot), hence the boot.
 *
 * The probe guest has only the status port: its init reports an error there (no 9p root) and
 * powers off. The first status line, whichever, proves the guest kernel ran its init. Never hangs:
 * at the deadline the probe QEMU is killed (by its pid); its files are removed in any case.
 * The answer is cached in `<dataDir>/qemu/accel.json` per boot id, QEMU binary and kernel: a
 * cache hit boots nothing. Never throws for a probe that fails; only for an unwritable dataDir.
 */
export async function probeAcceleration(o: AccelerationProbeOptions): Promise<Acceleration> {
  const dir = join(o.dataDir, 'qemu');
  const cacheFile = join(dir, 'accel.json');
  const key: AccelerationCacheKey = { bootId: await bootId(), qemu: o.qemu, kernel: o.kernel };
  const cached = cachedAcceleration(await readFile(cacheFile, 'utf8').catch(() => ''), key);
  if (cached) return cached;
  const result = (await kvmDeviceProblem()) ?? (await probeBoot(o, dir));
  await mkdir(dir, { recursive: true });
  const tmp = `${cacheFile}.${randomBytes(4).toString('hex')}.tmp`;
  await writeFile(tmp, `${JSON.stringify({ ...key, ...result, probedAt: new Date().toISOString() }, null, 2)}\n`);
  await rename(tmp, cacheFile);
  return result;
}

/** The cached answer in `text` (accel.json) when it was made for `key`; undefined otherwise. Pure. */
export function cachedAcceleration(text: string, key: AccelerationCacheKey): Acceleration | undefined {
  let c: Partial<Record<keyof AccelerationCacheKey | keyof Acceleration, unknown>>;
  try {
    c = JSON.parse(text) as typeof c;
  } catch {
    return undefined;
  }
  if (c.bootId !== key.bootId || c.qemu !== key.qemu || c.kernel !== key.kernel) return undefined;
  if ((c.accel !== 'kvm' && c.accel !== 'tcg') || typeof c.reason !== 'string') return undefined;
  return { accel: c.accel, reason: c.reason };
}

/** QEMU's arguments for the probe guest: a microvm under KVM with the status port and a serial console. Pure. */
export function probeQemuArgs(files: { readonly status: string; readonly console: string }, boot: { readonly kernel: string; readonly initrd: string; readonly append: string }): string[] {
  return [
    ...['-M', 'microvm,acpi=on', '-accel', 'kvm', '-m', String(MIN_VM_MEMORY_MIB), '-smp', '1'],
    ...['-nodefaults', '-no-user-config', '-display', 'none', '-no-reboot'],
    ...['-kernel', boot.kernel, '-initrd', boot.initrd, '-append', boot.append],
    ...['-device', 'virtio-serial-device', '-chardev', `file,id=st,path=${qemuOptionValue(files.status)}`],
    ...['-device', `virtserialport,chardev=st,name=${GUEST_PORTS.status}`],
    ...['-serial', `file:${files.console}`],
  ];
}

async function bootId(): Promise<string> {
  return (await readFile('/proc/sys/kernel/random/boot_id', 'utf8').catch(() => 'unknown')).trim();
}

/** Why /dev/kvm is no use, as a TCG answer; undefined when it opens read-write. */
async function kvmDeviceProblem(): Promise<Acceleration | undefined> {
  try {
    await (await open(KVM_DEVICE, 'r+')).close();
    return undefined;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? String(e);
    return { accel: 'tcg', reason: `KVM unavailable: ${KVM_DEVICE} cannot be opened read-write (${code})` };
  }
}

/** Boots the probe guest under KVM in a directory of its own, removed afterwards. */
async function probeBoot(o: AccelerationProbeOptions, dir: string): Promise<Acceleration> {
  await mkdir(dir, { recursive: true });
  const probeDir = await mkdtemp(join(dir, 'probe-'));
  try {
    return await bootUnderKvm(o, { status: join(probeDir, 'status'), console: join(probeDir, 'console.log') });
  } finally {
    await rm(probeDir, { recursive: true, force: true });
  }
}

async function bootUnderKvm(o: AccelerationProbeOptions, files: { status: string; console: string }): Promise<Acceleration> {
  const timeoutMs = o.timeoutMs ?? 5_000;
  const args = probeQemuArgs(files, { kernel: o.kernel, initrd: o.initrd, append: guestCommandLine({ console: true }) });
  const qemu = spawn(o.qemu, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  qemu.stderr.on('data', (b: Buffer) => (stderr = (stderr + b.toString()).slice(-2000)));
  let ended: { code: number | null } | undefined;
  const exited = new Promise<void>((resolve) => {
    qemu.once('exit', (code) => {
      ended = { code };
      resolve();
    });
    qemu.once('error', (e) => {
      stderr += e.message;
      ended = { code: null };
      resolve();
    });
  });
  const startedAt = Date.now();
  try {
    for (;;) {
      const wasEnded = ended;
      // Any status line: the guest kernel booted and ran its init (which then reports the missing root).
      if ((await guestStatuses(files.status)).length > 0) {
        return { accel: 'kvm', reason: `a probe guest under KVM reached its init in ${Date.now() - startedAt} ms` };
      }
      if (wasEnded) {
        const said = stderr.trim().split('\n').slice(-3).join(' | ') || `exit code ${String(wasEnded.code)}`;
        return { accel: 'tcg', reason: `KVM unusable: QEMU with -accel kvm ended before the probe guest booted: ${said}${await consoleTail(files.console)}` };
      }
      if (Date.now() - startedAt >= timeoutMs) {
        return { accel: 'tcg', reason: `KVM unusable: a probe guest under -accel kvm did not reach its init within ${timeoutMs} ms${await consoleTail(files.console)}` };
      }
      await Promise.race([sleep(50), exited]);
    }
  } finally {
    if (!ended) await killProbe(qemu.pid, exited);
  }
}

/** SIGKILLs the probe QEMU by its pid and waits (at most 10 s: one stuck in the kernel may take a while) for it to end. */
async function killProbe(pid: number | undefined, exited: Promise<void>): Promise<void> {
  if (pid === undefined) return;
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // It ended meanwhile.
  }
  const bound = new AbortController();
  await Promise.race([exited, sleep(10_000, undefined, { signal: bound.signal }).catch(() => undefined)]);
  bound.abort();
}

import { readFileSync } from 'node:fs';
import type { TerminalSize } from '../driver';
import { TaskSpecError } from '../errors';

/**
 * What the host and the guest init say to each other. The host side (the qemu driver) writes the
 * spec into the task share before boot, reads status and log lines from virtio-serial ports, and
 * writes control lines; the guest side is the busybox script in guest-init.ts.
 *
 *   host                                  guest (/init)
 *   <taskShare>/spec  ── 9p tag "berth" ──▶ /berth/spec (sourced by sh)
 *   status file       ◀── berth.status ──  booted | running <pid> | exited <code> | error <msg>
 *   log file          ◀── berth.log ─────  <RFC3339Nano> stdout|stderr F <text>
 *   control socket    ──── berth.control ▶ stop | exec <slot> <id> <spec> | kill <slot> <id> | resize <slot> <id> <rows> <cols>
 *                     ◀─────────────────  ok <line>   (once carried out)
 *
 * Commands run inside the guest (`exec`, see guest-exec.ts) use one of EXEC_SLOTS slots of three
 * ports each (execPortName): the host says `exec <slot> <id> <spec>` (encodeExecSpec, base64), the
 * guest answers with `<taskShare>/exec/<id>.ready` once the slot's ports are open and
 * `exec/<id>.exit` at the end (parseExecEnd).
 */

/** virtio-serial port names (`-device virtserialport,name=…`); the guest finds ports by name. */
export const GUEST_PORTS = { status: 'berth.status', log: 'berth.log', control: 'berth.control' } as const;
/** 9p mount tags: the workload's root (copy-on-write, prepared by the driver) and the task share. */
export const GUEST_SHARES = { rootfs: 'rootfs', task: 'berth' } as const;

/** What the guest runs: written by the driver as `<taskShareDir>/spec` (see encodeGuestSpec). */
export interface GuestSpec {
  /** Entrypoint + cmd, already resolved by the driver; argv[0] is looked up in the spec's PATH. */
  readonly argv: readonly string[];
  /** The workload's whole environment (nothing else is inherited). */
  readonly env: Readonly<Record<string, string>>;
  /** Absolute; created when the image lacks it. Default '/'. */
  readonly workdir: string;
  readonly uid: number;
  readonly gid: number;
  readonly hostname: string;
  readonly network?: { readonly address: string /* CIDR, e.g. 10.211.0.5/16 */; readonly gateway: string; readonly mac: string };
}

/**
 * Commands that can run at once inside one VM. Each slot is three virtio-serial ports on a PCI
 * controller of their own: a port costs the guest ~0.5 MiB of receive buffers there, 4 MiB on
 * virtio-mmio, whose 1024-entry queues QEMU does not let shrink.
 */
export const EXEC_SLOTS = 4;
/** A slot's ports: the command's stdin (and the guest's start signal back), stdout, stderr. */
export const EXEC_STREAMS = ['in', 'out', 'err'] as const;
export type ExecStream = (typeof EXEC_STREAMS)[number];

/** The virtio-serial port name of one stream of exec slot `slot`. */
export function execPortName(slot: number, stream: ExecStream): string {
  return `berth.exec.${slot}.${stream}`;
}

/** What one exec runs: sent on the `exec` control line (see encodeExecSpec). */
export interface ExecSpec {
  readonly argv: readonly string[];
  /** Runs the command on a terminal of `size` (rows × cols). */
  readonly tty: boolean;
  readonly size: TerminalSize;
}

/** How an exec ended, as the guest reports it in `exec/<id>.exit`. */
export type ExecEnd =
  | { readonly kind: 'exited'; readonly code: number; readonly stdoutBytes: number; readonly stderrBytes: number }
  | { readonly kind: 'error'; readonly message: string };

const HOSTNAME = /^[A-Za-z0-9][A-Za-z0-9.-]{0,63}$/; // Linux: at most 64 bytes
const ENV_NAME = /^[^=\0-][^=\0]*$/;
const IPV4 = /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;
const MAC = /^[0-9a-f]{2}(?::[0-9a-f]{2}){5}$/i;
const MAX_ID = 0xfffffffe;

/**
 * The spec as a file of shell assignments (`spec_<field>='…'`), single-quoted so that the guest
 * can source it with busybox sh without any value being interpreted: lists become numbered
 * variables (`spec_argc`, `spec_arg_0`, …). Throws TaskSpecError for what the guest cannot carry
 * out (NUL bytes, relative workdir, malformed addresses…); the driver knows the task and is
 * expected to have checked its inputs, so the error names none.
 */
export function encodeGuestSpec(spec: GuestSpec): string {
  validate(spec);
  const lines = ['# berth guest spec, sourced by /init (busybox sh)', 'spec_version=1'];
  const put = assigner(lines, 'spec');
  put('hostname', spec.hostname);
  put('workdir', spec.workdir || '/');
  put('uid', spec.uid);
  put('gid', spec.gid);
  put('argc', spec.argv.length);
  spec.argv.forEach((arg, i) => put(`arg_${i}`, arg));
  const env = Object.entries(spec.env);
  put('envc', env.length);
  env.forEach(([k, v], i) => put(`env_${i}`, `${k}=${v}`));
  if (spec.network) {
    put('net_address', spec.network.address);
    put('net_gateway', spec.network.gateway);
    put('net_mac', spec.network.mac.toLowerCase());
  }
  return `${lines.join('\n')}\n`;
}

/** Longest exec spec (shell text), so that its control line stays short for the guest's sh. */
export const EXEC_SPEC_MAX_BYTES = 48 * 1024;

/**
 * The spec of one exec as shell assignments, quoted as encodeGuestSpec quotes: `exec_tty`,
 * `exec_rows`, `exec_cols`, `exec_argc`, `exec_arg_0`… Throws TaskSpecError (naming no task) for
 * an empty argv, NUL bytes, a size that is not 1–65535 × 1–65535, or a command longer than
 * EXEC_SPEC_MAX_BYTES.
 */
export function encodeExecSpec(spec: ExecSpec): string {
  const problems: string[] = [];
  if (spec.argv.length === 0) problems.push('the command is empty');
  if (spec.argv.some((a) => a.includes('\0'))) problems.push('the command holds a NUL byte');
  for (const [name, n] of [['rows', spec.size.rows], ['cols', spec.size.cols]] as const) {
    if (!Number.isInteger(n) || n < 1 || n > 0xffff) problems.push(`terminal ${name} ${n} is not 1–65535`);
  }
  if (problems.length > 0) throw new TaskSpecError('-', `exec: ${problems.join('; ')}`);
  const lines = ['# berth exec spec, sourced by berth-exec (busybox sh)', 'exec_version=1'];
  const put = assigner(lines, 'exec');
  put('tty', spec.tty ? 1 : 0);
  put('rows', spec.size.rows);
  put('cols', spec.size.cols);
  put('argc', spec.argv.length);
  spec.argv.forEach((arg, i) => put(`arg_${i}`, arg));
  const text = `${lines.join('\n')}\n`;
  if (Buffer.byteLength(text) > EXEC_SPEC_MAX_BYTES) throw new TaskSpecError('-', `exec: the command is longer than ${EXEC_SPEC_MAX_BYTES / 1024} KiB`);
  return text;
}

/** The guest's `exec/<id>.exit` file (`exited CODE OUT ERR` or `error MSG`); undefined while it is incomplete or not one. */
export function parseExecEnd(fileText: string): ExecEnd | undefined {
  if (!fileText.endsWith('\n')) return undefined;
  const line = fileText.slice(0, fileText.indexOf('\n'));
  const exited = /^exited (\d+) (\d+) (\d+)$/.exec(line);
  if (exited) return { kind: 'exited', code: Number(exited[1]), stdoutBytes: Number(exited[2]), stderrBytes: Number(exited[3]) };
  if (line.startsWith('error ')) return { kind: 'error', message: line.slice(6) || 'unknown error' };
  return undefined;
}

/**
 * What the guest writes on a terminal once the command of exec `id` ended: `ESC ] berth-exit;<id>;<code> BEL`,
 * an operating system command terminals ignore. The host ends the output there (see TtyOutput).
 */
export function ttyExitMarker(id: string): { readonly prefix: string; readonly end: string } {
  return { prefix: `\x1b]berth-exit;${id};`, end: '\x07' };
}

/** Appends `<prefix>_<name>=<value>` lines, strings single-quoted (shellQuote). */
function assigner(lines: string[], prefix: string): (name: string, value: string | number) => void {
  return (name, value) => lines.push(`${prefix}_${name}=${typeof value === 'number' ? value : shellQuote(value)}`);
}

function validate(spec: GuestSpec): void {
  const problems: string[] = [];
  if (spec.argv.length === 0) problems.push('argv is empty');
  if (spec.argv.some((a) => a.includes('\0'))) problems.push('argv holds a NUL byte');
  for (const [k, v] of Object.entries(spec.env)) {
    if (!ENV_NAME.test(k) || v.includes('\0')) problems.push(`env ${JSON.stringify(k)}: a name must be non-empty without "=" or a leading "-", and neither may hold NUL bytes`);
  }
  if (spec.workdir && (!spec.workdir.startsWith('/') || spec.workdir.includes('\0'))) problems.push(`workdir "${spec.workdir}" is not absolute`);
  for (const [name, id] of [['uid', spec.uid], ['gid', spec.gid]] as const) {
    if (!Number.isInteger(id) || id < 0 || id > MAX_ID) problems.push(`${name} ${id} is not an id`);
  }
  if (!HOSTNAME.test(spec.hostname)) problems.push(`hostname "${spec.hostname}" is not a host name`);
  const net = spec.network;
  if (net) {
    const [ip, prefix, extra] = net.address.split('/');
    if (!IPV4.test(ip ?? '') || !/^\d+$/.test(prefix ?? '') || Number(prefix) > 32 || extra !== undefined) problems.push(`address "${net.address}" is not IPv4 CIDR`);
    if (!IPV4.test(net.gateway)) problems.push(`gateway "${net.gateway}" is not an IPv4 address`);
    if (!MAC.test(net.mac)) problems.push(`mac "${net.mac}" is not a MAC address`);
  }
  if (problems.length > 0) throw new TaskSpecError('-', `guest spec: ${problems.join('; ')}`);
}

/** `'…'` with every `'` written as `'\''`: sh takes everything inside literally, newlines too. */
export function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/** A line of the status port. */
export type GuestStatus = { kind: 'booted' } | { kind: 'running'; pid: number } | { kind: 'exited'; code: number } | { kind: 'error'; message: string };

/**
 * Every complete (newline-terminated) status line of `fileText`, in order. An unterminated tail
 * is still being written and is left for the next read; lines that are not status lines (none
 * are expected) are skipped.
 */
export function parseGuestStatus(fileText: string): GuestStatus[] {
  const end = fileText.lastIndexOf('\n');
  if (end < 0) return [];
  const out: GuestStatus[] = [];
  for (const raw of fileText.slice(0, end).split('\n')) {
    const line = raw.replace(/\r$/, '');
    const [word, ...rest] = line.split(' ');
    const arg = rest.join(' ');
    if (word === 'booted' && arg === '') out.push({ kind: 'booted' });
    else if (word === 'running' && /^\d+$/.test(arg)) out.push({ kind: 'running', pid: Number(arg) });
    else if (word === 'exited' && /^\d+$/.test(arg)) out.push({ kind: 'exited', code: Number(arg) });
    else if (word === 'error') out.push({ kind: 'error', message: arg || 'unknown error' });
  }
  return out;
}

/**
 * The guest kernel's command line. `no_timer_check lpj=… tsc=reliable` keep TCG guests from
 * hanging at timer and TSC calibration on `-M microvm`; `panic=-1` with QEMU's `-no-reboot`
 * turns a kernel panic (also: /init dying) into QEMU exiting. `console: false` is for a VM
 * without a serial device: no UART is probed and the init writes nowhere but its ports.
 * `loglevel=6` puts the kernel's notices on the console (its version and command line,
 * warnings: ~20 lines, where the default gives ~250 and `quiet` none of the boot), so a VM's
 * console log says which kernel booted how; no boot time difference measurable under TCG.
 *
 * `tscKhz` (default: the host's, see hostTscKhz) becomes `tsc_early_khz`. Under TCG the guest's
 * TSC runs at the host's rate, but the kernel measures it against the emulated PIT, which fails
 * when the host is busy; it then calibrates the APIC timer by waiting for PIT ticks, which never
 * arrive in a microvm guest (a guest without TSC hangs every time), and hangs right after
 * "Mountpoint-cache hash table entries" (9 of 12 boots with two CPU hogs on the 2-core host).
 * Given the rate, the kernel skips both (0 of 12). Pass `tscKhz: null` to leave it out.
 */
export function guestCommandLine(opts: { console: boolean; tscKhz?: number | null }): string {
  const consoleArgs = opts.console ? ['console=ttyS0'] : ['8250.nr_uarts=0'];
  const tscKhz = opts.tscKhz === undefined ? hostTscKhz() : opts.tscKhz;
  const tsc = tscKhz ? [`tsc_early_khz=${tscKhz}`] : [];
  return [...consoleArgs, 'loglevel=6', 'no_timer_check', 'lpj=4000000', 'tsc=reliable', ...tsc, 'panic=-1'].join(' ');
}

let hostTsc: number | undefined | null = null;

/**
 * The host's TSC rate in kHz, from /proc/cpuinfo (read once): x86 Linux reports the delay-loop
 * calibration as `bogomips`, which is 2 × the TSC rate in MHz when the CPU has a constant TSC.
 * Undefined when that cannot be told (another architecture, no constant_tsc).
 */
export function hostTscKhz(cpuinfo?: string): number | undefined {
  if (cpuinfo === undefined) {
    if (hostTsc === null) hostTsc = hostTscKhz(readCpuinfo());
    return hostTsc;
  }
  const first = cpuinfo.split(/\n\s*\n/)[0] ?? '';
  const flags = /^flags\s*:\s*(.*)$/m.exec(first)?.[1]?.split(/\s+/) ?? [];
  const bogomips = Number(/^bogomips\s*:\s*([\d.]+)$/m.exec(first)?.[1]);
  if (!flags.includes('tsc') || !flags.includes('constant_tsc') || !(bogomips > 0)) return undefined;
  return Math.round(bogomips * 500);
}

function readCpuinfo(): string {
  try {
    return readFileSync('/proc/cpuinfo', 'utf8');
  } catch {
    return '';
  }
}

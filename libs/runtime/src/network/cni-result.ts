import { CniPluginError } from './errors';

/** The parts of a CNI (1.0) result berth reads; the full object is kept as-is for DEL. */
export interface CniResult {
  readonly cniVersion: string;
  readonly interfaces?: readonly { readonly name: string; readonly mac?: string; readonly sandbox?: string }[];
  readonly ips?: readonly { readonly interface?: number; readonly address: string; readonly gateway?: string }[];
  readonly [key: string]: unknown;
}

/** What a plugin printed and how it exited, as seen by the executor. */
export interface PluginOutput {
  readonly plugin: string;
  readonly command: string;
  readonly exitCode: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Turns a successful ADD's stdout into a result. A plugin that exits 0 but prints something that
 * is not a result object is treated as failed: passing garbage on as prevResult would only move
 * the error to the next plugin, where it would name the wrong culprit.
 */
export function parseCniResult(out: PluginOutput): CniResult {
  const parsed = parseJson(out.stdout);
  if (!isObject(parsed) || typeof parsed.cniVersion !== 'string') {
    throw new CniPluginError(out.plugin, out.command, undefined, `printed no CNI result (stdout: ${clip(out.stdout) || 'empty'})`);
  }
  return parsed as CniResult;
}

/**
 * Maps a failed plugin run to an error naming the plugin. CNI plugins print
 * `{ code, msg, details }` on stdout when they fail; anything else (a crash, a missing binary's
 * shell message) is reported with the exit code and whatever was printed.
 */
export function cniErrorFromOutput(out: PluginOutput): CniPluginError {
  const parsed = parseJson(out.stdout);
  if (isObject(parsed) && typeof parsed.msg === 'string') {
    const code = typeof parsed.code === 'number' ? parsed.code : undefined;
    const details = typeof parsed.details === 'string' && parsed.details !== '' ? ` (${parsed.details})` : '';
    return new CniPluginError(out.plugin, out.command, code, `${parsed.msg}${details}`);
  }
  const printed = clip(out.stderr) || clip(out.stdout) || 'no output';
  return new CniPluginError(out.plugin, out.command, undefined, `exited with ${out.exitCode ?? 'a signal'}: ${printed}`);
}

/**
 * The task's IPv4 address (without prefix length): the first IPv4 entry on an interface inside
 * the sandbox — bridge also reports the host-side bridge and veth, which carry no task address.
 */
export function taskIpv4(result: CniResult): string | undefined {
  const interfaces = result.interfaces ?? [];
  const ipv4 = (result.ips ?? []).filter((ip) => /^\d+\.\d+\.\d+\.\d+\//.test(ip.address));
  const inSandbox = ipv4.find((ip) => ip.interface !== undefined && interfaces[ip.interface]?.sandbox);
  const chosen = inSandbox ?? ipv4[0];
  return chosen?.address.split('/')[0];
}

/**
 * A stand-in for a lost ADD result (an agent that crashed during setUp never stored one), built
 * from what is still visible in the namespace, so DEL still gets the prevResult the CNI spec
 * promises plugins (with the task's address, should a plugin key its cleanup on it).
 */
export function resultFromAddress(cniVersion: string, ifName: string, sandbox: string, cidr: string): CniResult {
  return { cniVersion, interfaces: [{ name: ifName, sandbox }], ips: [{ interface: 0, address: cidr }] };
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function clip(text: string): string {
  const t = text.trim();
  return t.length > 500 ? `${t.slice(0, 500)}…` : t;
}

import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import type { CniPluginConfig } from './cni-config';
import { cniErrorFromOutput, parseCniResult, type CniResult } from './cni-result';
import { CniPluginError } from './errors';
import { runTool, TOOL_PATH } from './exec';

/** The CNI environment of one call, minus the command (CNI_COMMAND). */
export interface CniCallTarget {
  /** CNI_CONTAINERID: berth passes the task id. */
  readonly containerId: string;
  /** CNI_NETNS: path of the task's network namespace. */
  readonly netnsPath: string;
  /** CNI_IFNAME: the interface name inside the namespace. */
  readonly ifName: string;
  /** CNI_PATH: where the plugin binaries live. */
  readonly binDir: string;
}

/**
 * Runs CNI ADD for one plugin: stdin is its config plus `prevResult` (the previous plugin's
 * result, absent for the first). Returns the plugin's result; throws CniPluginError naming the
 * plugin with the plugin's own message.
 */
export async function cniAdd(config: CniPluginConfig, target: CniCallTarget, prevResult?: CniResult): Promise<CniResult> {
  const out = await execPlugin('ADD', config, target, prevResult);
  if (out.exitCode !== 0) throw cniErrorFromOutput(out);
  return parseCniResult(out);
}

/**
 * Runs CNI DEL for one plugin with the same config as ADD and the chain's final ADD result as
 * `prevResult` (what libcni does too). The plugins treat "already gone" as success, so DEL is
 * safe to repeat. Throws CniPluginError when the plugin reports a failure.
 */
export async function cniDel(config: CniPluginConfig, target: CniCallTarget, prevResult?: CniResult): Promise<void> {
  const out = await execPlugin('DEL', config, target, prevResult);
  if (out.exitCode !== 0) throw cniErrorFromOutput(out);
}

/**
 * Checks that every plugin of the chain exists and is executable, so a missing package fails
 * setUp before anything was created. Throws CniPluginError naming the first missing plugin.
 */
export async function assertPluginsInstalled(chain: readonly CniPluginConfig[], binDir: string): Promise<void> {
  for (const plugin of chain) {
    const binary = join(binDir, plugin.type);
    try {
      await access(binary, constants.X_OK);
    } catch {
      throw new CniPluginError(plugin.type, 'ADD', undefined, missingBinary(binary));
    }
  }
}

function missingBinary(binary: string): string {
  return `${binary} does not exist or is not executable (install containernetworking-plugins or set cniBinDir)`;
}

async function execPlugin(command: 'ADD' | 'DEL', config: CniPluginConfig, target: CniCallTarget, prevResult?: CniResult) {
  const stdin = JSON.stringify(prevResult === undefined ? config : { ...config, prevResult });
  const env = {
    CNI_COMMAND: command,
    CNI_CONTAINERID: target.containerId,
    CNI_NETNS: target.netnsPath,
    CNI_IFNAME: target.ifName,
    CNI_PATH: target.binDir,
    PATH: TOOL_PATH,
  };
  const binary = join(target.binDir, config.type);
  try {
    const run = await runTool(binary, [], { input: stdin, env });
    return { plugin: config.type, command, ...run };
  } catch (e) {
    const reason = (e as NodeJS.ErrnoException).code === 'ENOENT' ? missingBinary(binary) : (e as Error).message;
    throw new CniPluginError(config.type, command, undefined, reason);
  }
}

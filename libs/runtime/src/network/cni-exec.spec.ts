import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { assertPluginsInstalled, cniAdd, cniDel, type CniCallTarget } from './cni-exec';
import type { CniResult } from './cni-result';
import { CniPluginError } from './errors';

// Stand-in plugins (shell scripts) that show what the executor hands a plugin: the CNI
// environment and stdin. The real plugins are exercised by test/integration/network.
const binDir = mkdtempSync(join(tmpdir(), 'berth-cni-exec-'));
const plugin = (name: string, body: string) => {
  writeFileSync(join(binDir, name), `#!/bin/sh\n${body}\n`);
  chmodSync(join(binDir, name), 0o755);
};
// Keeps its stdin next to itself and answers with a result carrying its CNI environment.
plugin('echo', `cat > "$CNI_PATH/stdin.json"
printf '{"cniVersion":"1.0.0","dns":{"options":["%s","%s","%s","%s","%s"]}}' "$CNI_COMMAND" "$CNI_CONTAINERID" "$CNI_NETNS" "$CNI_IFNAME" "$CNI_PATH"`);
plugin('refuse', `printf '{"code":7,"msg":"invalid network config","details":"bridge name too long"}'; exit 1`);
plugin('crash', `echo 'panic: nil map' >&2; exit 2`);
afterAll(() => rmSync(binDir, { recursive: true, force: true }));

const target: CniCallTarget = { containerId: 'web.1.abc', netnsPath: '/run/netns/berth-web.1.abc', ifName: 'eth0', binDir };
const config = (type: string) => ({ cniVersion: '1.0.0', name: 'berth-n1', type, extra: 1 });
const stdin = () => JSON.parse(readFileSync(join(binDir, 'stdin.json'), 'utf8')) as Record<string, unknown>;

describe('CNI plugin execution', () => {
  it('passes the CNI environment and the config, adding prevResult only when there is one', async () => {
    const first = await cniAdd(config('echo'), target);
    expect((first.dns as { options: string[] }).options).toEqual(['ADD', 'web.1.abc', '/run/netns/berth-web.1.abc', 'eth0', binDir]);
    expect(stdin()).toEqual({ cniVersion: '1.0.0', name: 'berth-n1', type: 'echo', extra: 1 });

    const prev: CniResult = { cniVersion: '1.0.0', ips: [{ address: '10.211.0.2/16' }] };
    await cniDel(config('echo'), target, prev);
    expect(stdin()).toEqual({ cniVersion: '1.0.0', name: 'berth-n1', type: 'echo', extra: 1, prevResult: prev });
  });

  it("reports the plugin's own error, naming the plugin", async () => {
    const add = cniAdd(config('refuse'), target);
    await expect(add).rejects.toBeInstanceOf(CniPluginError);
    await expect(add).rejects.toThrow('CNI plugin "refuse" ADD failed (code 7): invalid network config (bridge name too long)');
    await expect(cniDel(config('crash'), target)).rejects.toThrow('CNI plugin "crash" DEL failed: exited with 2: panic: nil map');
  });

  it('names a plugin that is not installed, before and during a call', async () => {
    await expect(assertPluginsInstalled([config('echo'), config('bridge')], binDir)).rejects.toThrow(
      `CNI plugin "bridge" ADD failed: ${binDir}/bridge does not exist or is not executable`,
    );
    await expect(cniDel(config('portmap'), target)).rejects.toThrow(`CNI plugin "portmap" DEL failed: ${binDir}/portmap does not exist`);
  });
});

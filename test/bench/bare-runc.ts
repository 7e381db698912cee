import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const exec = promisify(execFile);

/**
 * The floor berth's one-replica figure is compared with: `runc run --detach` of a bundle unpacked
 * from the same busybox layout, running the same command. No overlayfs, no CNI, no shim, no
 * control plane — only what runc itself does. Returns each run's seconds; cleans up after itself.
 */
export async function timeBareRunc(/** `oci:DIR:TAG` */ layout: string, command: readonly string[], runs: number): Promise<number[]> {
  const root = await mkdtemp(join(tmpdir(), 'berth-bench-runc-'));
  const bundle = join(root, 'bundle');
  const state = join(root, 'state');
  const times: number[] = [];
  try {
    await exec('umoci', ['unpack', '--image', layout.replace(/^oci:/, ''), bundle]);
    const configPath = join(bundle, 'config.json');
    const config = JSON.parse(await readFile(configPath, 'utf8')) as { process: { args: string[]; terminal: boolean } };
    config.process.args = [...command];
    config.process.terminal = false;
    await writeFile(configPath, JSON.stringify(config));
    for (let i = 0; i < runs; i++) {
      const id = `berth-bench-${process.pid}-${i}`;
      const started = performance.now();
      const child = spawn('runc', ['--root', state, 'run', '--detach', '--bundle', bundle, id], { stdio: 'ignore' });
      const [code] = (await once(child, 'exit')) as [number | null];
      times.push((performance.now() - started) / 1000);
      if (code !== 0) throw new Error(`runc run exited with ${code}`);
      await exec('runc', ['--root', state, 'delete', '--force', id]);
    }
    return times;
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

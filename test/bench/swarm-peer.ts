import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { ensureDocker, releaseDocker } from '../support/docker';

const exec = promisify(execFile);

/** The workplace's Docker Swarm peer script; BERTH_SWARM_PEER overrides where it is. */
export const SWARM_PEER = resolve(process.env.BERTH_SWARM_PEER ?? resolve(__dirname, '../../../shared/bench/swarm-peer.sh'));

async function swarmActive(): Promise<boolean> {
  const r = await exec('docker', ['info', '--format', '{{.Swarm.LocalNodeState}}']).catch(() => ({ stdout: '' }));
  return r.stdout.trim() === 'active';
}

/**
 * Times Docker Swarm converging `replicas` each, with the peer script, on this machine. The engine
 * is started the way the integration suites start it (ensureDocker: no iptables rewrites, which
 * would break berth's CNI bridges); the swarm is left again, and the engine stopped, when this
 * run created them. Undefined when the peer script is not there.
 */
export async function timeSwarm(replicas: readonly number[]): Promise<Map<number, number> | undefined> {
  if (!existsSync(SWARM_PEER)) return undefined;
  await ensureDocker();
  const hadSwarm = await swarmActive();
  const seconds = new Map<number, number>();
  try {
    for (const n of replicas) {
      const { stdout } = await exec('bash', [SWARM_PEER, String(n)], { maxBuffer: 1 << 20, timeout: 900_000 });
      const m = /swarm N=(\d+) seconds=([\d.]+)/.exec(stdout);
      if (!m) throw new Error(`unexpected output of ${SWARM_PEER}: ${stdout}`);
      seconds.set(n, Number(m[2]));
    }
  } finally {
    if (!hadSwarm) {
      await exec('docker', ['swarm', 'leave', '--force']).catch(() => undefined);
      // Swarm's bridge to the host outlives the swarm; it is ours to remove when we made it.
      await exec('docker', ['network', 'rm', 'docker_gwbridge']).catch(() => undefined);
    }
    await releaseDocker();
  }
  return seconds;
}

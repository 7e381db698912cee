import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createEtcdClient } from '@berth/store';
import { freePort } from '../../support/net';

export interface PlainEtcd {
  readonly endpoint: string;
  stop(): Promise<void>;
}

/**
 * The distribution's etcd with its DEFAULT limits (128 operations per transaction), unlike
 * berth's embedded etcd which raises them: proves leader writes batch within the defaults.
 */
export async function startPlainEtcd(dataDir: string): Promise<PlainEtcd> {
  const [client, peer] = [await freePort(), await freePort()];
  const endpoint = `http://127.0.0.1:${client}`;
  const peerUrl = `http://127.0.0.1:${peer}`;
  const child: ChildProcess = spawn(
    'etcd',
    [
      '--name', 'plain', '--data-dir', join(dataDir, 'plain-etcd'),
      '--listen-client-urls', endpoint, '--advertise-client-urls', endpoint,
      '--listen-peer-urls', peerUrl, '--initial-advertise-peer-urls', peerUrl,
      '--initial-cluster', `plain=${peerUrl}`,
    ],
    { stdio: 'ignore' },
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const probe = createEtcdClient({ endpoints: [endpoint], callTimeoutMs: 1_000 });
  try {
    for (let i = 0; ; i++) {
      try {
        await probe.get('probe');
        break;
      } catch (e) {
        if (i > 100 || child.exitCode !== null) throw e;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  } finally {
    probe.close();
  }
  return {
    endpoint,
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

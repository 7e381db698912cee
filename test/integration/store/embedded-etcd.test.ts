import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { loadOrCreateCa, writeLeaf } from '@berth/pki';
import { createEtcdClient, EmbeddedEtcd, EtcdStore } from '@berth/store';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { requireTools } from '../../support/prereq';
import { draft } from './fixtures';

const exec = promisify(execFile);
const ready = requireTools(['etcd', 'etcdctl'], { root: true });

/** PIDs of processes whose command line mentions `needle` (here: a test's data dir). */
function processesMentioning(needle: string): number[] {
  return readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p))
    .filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(needle);
      } catch {
        return false;
      }
    })
    .map(Number);
}

describe.runIf(ready)('EmbeddedEtcd', () => {
  const dirs: string[] = [];
  const running: EmbeddedEtcd[] = [];
  const tempDir = () => {
    const d = mkdtempSync(join(tmpdir(), 'berth-embedded-'));
    dirs.push(d);
    return d;
  };
  const start = async (dataDir: string, log?: (line: string) => void) => {
    const etcd = await EmbeddedEtcd.start({ dataDir, ...(log ? { log } : {}) });
    running.push(etcd);
    return etcd;
  };

  afterAll(async () => {
    await Promise.all(running.map((e) => e.stop()));
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('runs two instances side by side, keeps data and ports across a restart, and leaves no process behind', async () => {
    const [dirA, dirB] = [tempDir(), tempDir()];
    const [a, b] = await Promise.all([start(dirA), start(dirB)]);
    expect(a.endpoints[0]).not.toBe(b.endpoints[0]);
    const recorded = JSON.parse(readFileSync(join(dirA, 'etcd-ports.json'), 'utf8')) as { client: number; peer: number };
    expect(a.endpoints).toEqual([`https://127.0.0.1:${recorded.client}`]);

    const clientA = createEtcdClient({ endpoints: a.endpoints, tls: a.clientTls });
    const clientB = createEtcdClient({ endpoints: b.endpoints, tls: b.clientTls });
    try {
      await new EtcdStore(clientA).applyServices([draft('only-in-a')]);
      expect(await new EtcdStore(clientB).getService('only-in-a')).toBeUndefined();
    } finally {
      clientA.close();
      clientB.close();
    }

    await a.stop();
    expect(processesMentioning(dirA)).toEqual([]);

    const again = await start(dirA);
    expect(again.endpoints).toEqual(a.endpoints);
    const client = createEtcdClient({ endpoints: again.endpoints, tls: again.clientTls });
    try {
      expect((await new EtcdStore(client).getService('only-in-a'))?.meta.name).toBe('only-in-a');
    } finally {
      client.close();
    }
    await Promise.all([again.stop(), b.stop()]);
    expect(processesMentioning(dirA)).toEqual([]);
    expect(processesMentioning(dirB)).toEqual([]);
    expect(readFileSync(join(dirA, 'etcd.log'), 'utf8')).toMatch(/serving client traffic/);
  });

  it('answers only TLS clients with a certificate of the CA in its data dir: etcdctl with the client files works, without a certificate or with another CA\'s it is refused', async () => {
    const dir = tempDir();
    const etcd = await start(dir);
    const { caFile, certFile, keyFile } = etcd.clientFiles;
    expect([caFile, certFile, keyFile]).toEqual([join(dir, 'pki', 'ca.pem'), join(dir, 'pki', 'etcd-client.pem'), join(dir, 'pki', 'etcd-client.key')]);
    const endpoint = etcd.endpoints[0]!;
    const etcdctl = (...args: string[]) =>
      exec('etcdctl', ['--endpoints', endpoint, '--dial-timeout', '2s', '--command-timeout', '3s', ...args]).then(
        (r) => `ok: ${r.stdout.trim()}`,
        (e: { stderr?: string }) => `refused: ${e.stderr ?? ''}`,
      );
    expect(await etcdctl('--cacert', caFile, '--cert', certFile, '--key', keyFile, 'put', '/probe', 'x')).toBe('ok: OK');
    expect(await etcdctl('--cacert', caFile, 'get', '/probe')).toMatch(/^refused: /);
    const otherPki = join(tempDir(), 'pki');
    const stranger = await writeLeaf(otherPki, 'stranger', await loadOrCreateCa(otherPki), { commonName: 'stranger', uses: ['client'], lifetimeMs: 86_400_000 });
    expect(await etcdctl('--cacert', caFile, '--cert', stranger.certFile, '--key', stranger.keyFile, 'get', '/probe')).toMatch(/^refused: /);
    // Plain HTTP gets no answer it could use.
    const plain = await fetch(`http://127.0.0.1:${new URL(endpoint).port}/health`, { signal: AbortSignal.timeout(2000) }).then((r) => `status ${r.status}`, () => 'no answer');
    expect(plain).not.toBe('status 200');
    await etcd.stop();
  });

  it('takes a 4 MiB apply of 1000 services in one transaction', async () => {
    const etcd = await start(tempDir());
    const client = createEtcdClient({ endpoints: etcd.endpoints, tls: etcd.clientTls });
    try {
      const padding = 'x'.repeat(4 * 1024);
      const drafts = Array.from({ length: 1000 }, (_, i) => {
        const d = draft(`s${i}`);
        return { ...d, spec: { ...d.spec, template: { ...d.spec.template, env: { PADDING: padding } } } };
      });
      const outcomes = await new EtcdStore(client).applyServices(drafts);
      expect(new Set(outcomes.map((o) => o.service.meta.resourceVersion)).size).toBe(1); // one txn, one revision
      expect(await new EtcdStore(client).listServices()).toHaveLength(1000);
    } finally {
      client.close();
      await etcd.stop();
    }
  });

  it('restarts etcd when it dies unexpectedly', async () => {
    const dir = tempDir();
    const lines: string[] = [];
    const etcd = await start(dir, (l) => lines.push(l));
    const client = createEtcdClient({ endpoints: etcd.endpoints, tls: etcd.clientTls });
    try {
      await new EtcdStore(client).applyServices([draft('survivor')]);
      const first = etcd.pid!;
      process.kill(first, 'SIGKILL');
      await vi.waitFor(() => expect(lines.join('\n')).toContain('etcd restarted'), { timeout: 30_000, interval: 200 });
      expect(etcd.pid).toBeDefined();
      expect(etcd.pid).not.toBe(first);
      expect((await new EtcdStore(client).getService('survivor'))?.meta.name).toBe('survivor');
    } finally {
      client.close();
      await etcd.stop();
    }
    expect(processesMentioning(dir)).toEqual([]);
  });
});

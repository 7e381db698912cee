import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { etcdArgs, EtcdBinaryNotFoundError, etcdSearchDirs, findEtcd } from './embedded-etcd';

describe('etcdArgs', () => {
  const tls = { caFile: '/d/pki/ca.pem', certFile: '/d/pki/etcd.pem', keyFile: '/d/pki/etcd.key' };
  const args = etcdArgs('/var/lib/berth', { client: 23790, peer: 23800 }, tls);
  const flag = (name: string) => args[args.indexOf(name) + 1];

  it('listens on loopback only, on the chosen ports, over TLS', () => {
    expect(flag('--listen-client-urls')).toBe('https://127.0.0.1:23790');
    expect(flag('--advertise-client-urls')).toBe('https://127.0.0.1:23790');
    expect(flag('--listen-peer-urls')).toBe('https://127.0.0.1:23800');
    expect(flag('--initial-cluster')).toBe('berth=https://127.0.0.1:23800');
  });

  it('answers only clients (and peers) with a certificate of the cluster CA', () => {
    expect(args).toContain('--client-cert-auth');
    expect(args).toContain('--peer-client-cert-auth');
    expect([flag('--trusted-ca-file'), flag('--peer-trusted-ca-file')]).toEqual([tls.caFile, tls.caFile]);
    expect([flag('--cert-file'), flag('--key-file')]).toEqual([tls.certFile, tls.keyFile]);
    expect([flag('--peer-cert-file'), flag('--peer-key-file')]).toEqual([tls.certFile, tls.keyFile]);
  });

  it('keeps data in DIR/etcd and raises the txn limits so a 4 MiB manifest fits', () => {
    expect(flag('--data-dir')).toBe(join('/var/lib/berth', 'etcd'));
    expect(Number(flag('--max-txn-ops'))).toBeGreaterThanOrEqual(10_000);
    expect(Number(flag('--max-request-bytes'))).toBeGreaterThan(4 * 1024 * 1024);
    expect(flag('--auto-compaction-mode')).toBe('periodic');
    expect(flag('--auto-compaction-retention')).toBe('1h');
  });
});

describe('findEtcd', () => {
  it('finds nothing where there is no etcd, and the error says which package to install', () => {
    const empty = mkdtempSync(join(tmpdir(), 'berth-no-etcd-'));
    try {
      expect(findEtcd([empty])).toBeUndefined();
    } finally {
      rmSync(empty, { recursive: true });
    }
    expect(new EtcdBinaryNotFoundError().message).toBe(
      'etcd not found: install the Debian package "etcd-server" (npm run up installs it)',
    );
  });

  it('searches PATH first, then /usr/bin', () => {
    expect(etcdSearchDirs('/opt/a:/opt/b')).toEqual(['/opt/a', '/opt/b', '/usr/bin']);
  });
});

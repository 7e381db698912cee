import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { CliEnvironment } from '../environment';
import { clientServerUrl, defaultDataDir, listenerLines, readEtcdTls } from './serve';

const env = (isRoot: boolean): CliEnvironment => ({ configPath: '/home/u/.berth/config.json', home: '/home/u', isRoot, hostname: 'box', version: '0.1.0' });

describe('defaultDataDir', () => {
  it('uses /var/lib/berth as root and the XDG data home otherwise', () => {
    expect(defaultDataDir(env(true))).toBe('/var/lib/berth');
    expect(defaultDataDir(env(true), 'up')).toBe('/var/lib/berth/up');
    expect(defaultDataDir(env(false))).toBe('/home/u/.local/share/berth');
    expect(defaultDataDir(env(false), 'up')).toBe('/home/u/.local/share/berth/up');
  });
});

describe('listenerLines', () => {
  const running = { apiUrl: 'https://127.0.0.1:7070', grpcAddress: '127.0.0.1:7071', etcdEndpoints: ['https://127.0.0.1:23790'], caFile: '/d/pki/ca.pem', caFingerprint: 'ab12', adminConfigFile: '/d/admin.yaml' };
  it('prints one line per listener; an embedded etcd with the client certificate it wants', () => {
    const etcdClientFiles = { caFile: '/d/pki/ca.pem', certFile: '/d/pki/etcd-client.pem', keyFile: '/d/pki/etcd-client.key' };
    expect(listenerLines({ ...running, etcdClientFiles })).toEqual([
      'berth: API on https://127.0.0.1:7070 (HTTPS, tokens; an admin\'s: BERTH_CONFIG=/d/admin.yaml)',
      'berth: agents on 127.0.0.1:7071 (mutual TLS; nodes join with a token: berth token create --role join)',
      'berth: cluster CA /d/pki/ca.pem (sha256 ab12)',
      'berth: etcd embedded at https://127.0.0.1:23790 (mutual TLS: --cacert /d/pki/ca.pem --cert /d/pki/etcd-client.pem --key /d/pki/etcd-client.key)',
    ]);
    expect(listenerLines({ ...running, etcdEndpoints: ['http://a:2379', 'http://b:2379'] })[3]).toBe('berth: etcd at http://a:2379,http://b:2379');
  });
});

describe('readEtcdTls', () => {
  it('reads the three files, and names the flag whose file cannot be read', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'berth-etcd-tls-'));
    try {
      for (const f of ['ca', 'cert', 'key']) writeFileSync(join(dir, f), `${f} pem`);
      const files = { ca: join(dir, 'ca'), cert: join(dir, 'cert'), key: join(dir, 'key') };
      expect(await readEtcdTls(files)).toEqual({ ca: 'ca pem', cert: 'cert pem', key: 'key pem' });
      await expect(readEtcdTls({ ...files, cert: join(dir, 'nope') })).rejects.toThrow(`--etcd-cert ${join(dir, 'nope')}: cannot be read (ENOENT)`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('clientServerUrl', () => {
  it('reaches a wildcard listener through loopback', () => {
    expect(clientServerUrl('http://0.0.0.0:7070')).toBe('http://127.0.0.1:7070');
    expect(clientServerUrl('http://[::]:7070')).toBe('http://[::1]:7070');
    expect(clientServerUrl('http://10.0.0.5:7070')).toBe('http://10.0.0.5:7070');
  });

  it('keeps https', () => {
    expect(clientServerUrl('https://0.0.0.0:7070')).toBe('https://127.0.0.1:7070');
    expect(clientServerUrl('https://[::]:7070')).toBe('https://[::1]:7070');
    expect(clientServerUrl('https://berth.example:7070/')).toBe('https://berth.example:7070');
  });
});

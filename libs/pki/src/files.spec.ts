import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadOrCreateCa, readCertificateFiles, writeLeaf } from './files';
import { createCa } from './x509';

describe('CA and certificate files', () => {
  const dirs: string[] = [];
  const tempDir = () => {
    const d = mkdtempSync(join(tmpdir(), 'berth-pki-files-'));
    dirs.push(d);
    return join(d, 'pki');
  };
  const mode = (path: string) => statSync(path).mode & 0o777;
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it('creates the CA once, its key and directory for root only, and reads it back after that', async () => {
    const dir = tempDir();
    const first = await loadOrCreateCa(dir);
    expect(first.created).toBe(true);
    expect([mode(dir), mode(join(dir, 'ca.key')), mode(join(dir, 'ca.pem'))]).toEqual([0o700, 0o600, 0o644]);
    const again = await loadOrCreateCa(dir);
    expect(again).toMatchObject({ created: false, certPem: first.certPem, keyPem: first.keyPem });
  });

  it('never replaces half a CA, or a key that is not the certificate\'s', async () => {
    const dir = tempDir();
    await loadOrCreateCa(dir);
    unlinkSync(join(dir, 'ca.pem'));
    await expect(loadOrCreateCa(dir)).rejects.toThrow(/holds only one of ca\.pem and ca\.key/);
    writeFileSync(join(dir, 'ca.pem'), createCa({ commonName: 'other' }).certPem);
    await expect(loadOrCreateCa(dir)).rejects.toThrow(/ca\.key is not the key of .*ca\.pem/);
  });

  it('writes a leaf with a new key each time, signed by the CA', async () => {
    const dir = tempDir();
    const ca = await loadOrCreateCa(dir);
    const files = await writeLeaf(dir, 'etcd', ca, { commonName: 'etcd', uses: ['server'], ipAddresses: ['127.0.0.1'], lifetimeMs: 86_400_000 });
    expect(files).toEqual({ caFile: join(dir, 'ca.pem'), certFile: join(dir, 'etcd.pem'), keyFile: join(dir, 'etcd.key') });
    expect(mode(files.keyFile)).toBe(0o600);
    const first = await readCertificateFiles(files);
    expect(new X509Certificate(first.cert).verify(new X509Certificate(first.ca).publicKey)).toBe(true);
    await writeLeaf(dir, 'etcd', ca, { commonName: 'etcd', uses: ['server'], lifetimeMs: 86_400_000 });
    expect((await readCertificateFiles(files)).key).not.toBe(first.key);
  });
});

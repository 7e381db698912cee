import { createPublicKey } from 'node:crypto';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createCa, issueCertificate, newPrivateKey } from '@berth/pki';
import { establishIdentity } from './establish';
import { identityFiles, identityOf, loadIdentity, saveIdentity, WrongNodeError, type NodeIdentity } from './node-identity';

const DAY = 86_400_000;
const ca = createCa({ commonName: 'berth cluster CA' });

function nodeIdentity(commonName: string, o: { now?: Date; lifetimeMs?: number } = {}): NodeIdentity {
  const keyPem = newPrivateKey();
  const certPem = issueCertificate(ca, { publicKey: createPublicKey(keyPem), commonName, uses: ['client'], lifetimeMs: o.lifetimeMs ?? 10 * DAY, ...(o.now ? { now: o.now } : {}) });
  return { caPem: ca.certPem, certPem, keyPem, validFrom: new Date(0), validTo: new Date(0) };
}

describe('the identity files', () => {
  let dataDir: string;
  beforeEach(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'berth-identity-'));
  });
  afterEach(() => rm(dataDir, { recursive: true, force: true }));

  it('needs a join when nothing is there', async () => {
    expect(await loadIdentity(identityFiles(dataDir), 'n1')).toEqual({ needsJoin: 'no certificate yet' });
  });

  it("reuses this node's unexpired certificate", async () => {
    const files = identityFiles(dataDir);
    const id = nodeIdentity('node:n1');
    await saveIdentity(files, id);
    const stored = await loadIdentity(files, 'n1');
    expect('identity' in stored && stored.identity).toMatchObject({ certPem: id.certPem, keyPem: id.keyPem, caPem: ca.certPem });
    expect(await readdir(files.dir)).toHaveLength(3); // no temporary files left
  });

  it("refuses another node's certificate: the data dir belongs to that node", async () => {
    const files = identityFiles(dataDir);
    await saveIdentity(files, nodeIdentity('node:n2'));
    await expect(loadIdentity(files, 'n1')).rejects.toThrow(WrongNodeError);
    await expect(loadIdentity(files, 'n1')).rejects.toThrow(/node\.pem is the certificate of node:n2, not node:n1: this data directory belongs to that node/);
  });

  it('needs a join when the certificate expired', async () => {
    const files = identityFiles(dataDir);
    await saveIdentity(files, nodeIdentity('node:n1', { now: new Date(Date.now() - 20 * DAY) }));
    const stored = await loadIdentity(files, 'n1');
    expect('needsJoin' in stored && stored.needsJoin).toMatch(/node\.pem expired at /);
  });

  it('needs a join when a file is missing or the key is not the certificate\'s', async () => {
    const files = identityFiles(dataDir);
    await saveIdentity(files, nodeIdentity('node:n1'));
    await writeFile(files.keyFile, newPrivateKey());
    const mismatched = await loadIdentity(files, 'n1');
    expect('needsJoin' in mismatched && mismatched.needsJoin).toMatch(/the private key is not the certificate's/);
    await rm(files.keyFile);
    const missing = await loadIdentity(files, 'n1');
    expect('needsJoin' in missing && missing.needsJoin).toMatch(/node\.key missing/);
  });

  it('identityOf refuses a certificate another CA signed', () => {
    const other = createCa({ commonName: 'berth cluster CA' });
    const keyPem = newPrivateKey();
    const certPem = issueCertificate(other, { publicKey: createPublicKey(keyPem), commonName: 'node:n1', uses: ['client'], lifetimeMs: DAY });
    expect(() => identityOf(ca.certPem, certPem, keyPem, 'n1')).toThrow(/not signed by the cluster CA/);
  });
});

describe('establishIdentity without a usable certificate', () => {
  let dataDir: string;
  beforeEach(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'berth-identity-'));
  });
  afterEach(() => rm(dataDir, { recursive: true, force: true }));
  const log = () => undefined;

  it('asks for a token when none is given', async () => {
    await expect(establishIdentity({ server: '127.0.0.1:1', name: 'n1', dataDir, log })).rejects.toThrow(
      'this node has no certificate yet: join with a token (berth token create --role join on the control plane, then berth agent --token …)',
    );
  });

  it('says why an expired certificate needs a token', async () => {
    await saveIdentity(identityFiles(dataDir), nodeIdentity('node:n1', { now: new Date(Date.now() - 20 * DAY) }));
    await expect(establishIdentity({ server: '127.0.0.1:1', name: 'n1', dataDir, log })).rejects.toThrow(/no usable certificate \(.*expired at .*\): join with a token/);
  });

  it('refuses an API token (and calls the token function only then)', async () => {
    let asked = 0;
    const token = async () => {
      asked++;
      return 'BERTHA1-abcdef123456.abcdefghijklmnopqrstuvwxyz012345';
    };
    await expect(establishIdentity({ server: '127.0.0.1:1', name: 'n1', dataDir, token, log })).rejects.toThrow(/^not a join token/);
    expect(asked).toBe(1);
    await saveIdentity(identityFiles(dataDir), nodeIdentity('node:n1'));
    await establishIdentity({ server: '127.0.0.1:1', name: 'n1', dataDir, token, log });
    expect(asked).toBe(1);
  });
});

import { execFile } from 'node:child_process';
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { caFingerprint, createCa, createCsr, issueCertificate, newPrivateKey, readCsr } from '@berth/pki';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireTools } from '../../support/prereq';

const exec = promisify(execFile);
const ready = requireTools(['openssl']);
const DAY = 86_400_000;

/** berth's certificates and requests as OpenSSL — the reference implementation TLS peers behave like — sees them. */
describe.runIf(ready)('cluster certificates under OpenSSL', () => {
  let dir = '';
  const file = async (name: string, text: string) => {
    const path = join(dir, name);
    await writeFile(path, text);
    return path;
  };
  const openssl = async (...args: string[]) => (await exec('openssl', args)).stdout;
  /** What OpenSSL says when it refuses (`accepted` when it does not). */
  const refusal = (...args: string[]) => exec('openssl', args).then(
    () => 'accepted',
    (e: { stdout?: string; stderr?: string }) => `${e.stdout ?? ''}${e.stderr ?? ''}`,
  );

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-pki-'));
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('verifies a server and a node certificate against the CA, for their purposes, and shows the extensions', async () => {
    const ca = createCa({ commonName: 'berth cluster CA' });
    const caFile = await file('ca.pem', ca.certPem);
    const serverKey = newPrivateKey();
    const server = await file('server.pem', issueCertificate(ca, { publicKey: createPublicKey(createPrivateKey(serverKey)), commonName: 'control-plane', uses: ['server'], dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'], lifetimeMs: 365 * DAY }));
    const nodeKey = newPrivateKey();
    const node = await file('node.pem', issueCertificate(ca, { publicKey: readCsr(createCsr(nodeKey, 'node:n1')).publicKey, commonName: 'node:n1', uses: ['client'], lifetimeMs: 90 * DAY }));

    expect(await openssl('verify', '-x509_strict', '-purpose', 'sslserver', '-CAfile', caFile, server)).toBe(`${server}: OK\n`);
    expect(await openssl('verify', '-x509_strict', '-purpose', 'sslclient', '-CAfile', caFile, node)).toBe(`${node}: OK\n`);
    // A node certificate is no server certificate, and another CA vouches for neither.
    expect(await refusal('verify', '-purpose', 'sslserver', '-CAfile', caFile, node)).toMatch(/unsuitable certificate purpose/);
    const other = await file('other-ca.pem', createCa({ commonName: 'berth cluster CA' }).certPem);
    expect(await refusal('verify', '-CAfile', other, server)).toMatch(/certificate signature failure|unable to get local issuer/);

    const text = await openssl('x509', '-in', server, '-noout', '-text');
    expect(text).toContain('Signature Algorithm: ecdsa-with-SHA256');
    expect(text).toContain('ASN1 OID: prime256v1');
    expect(text).toMatch(/X509v3 Basic Constraints: critical\s+CA:FALSE/);
    expect(text).toMatch(/X509v3 Key Usage: critical\s+Digital Signature/);
    expect(text).toMatch(/X509v3 Extended Key Usage:\s+TLS Web Server Authentication/);
    expect(text).toMatch(/X509v3 Subject Alternative Name:\s+DNS:localhost, IP Address:127\.0\.0\.1/);
    expect(text).toMatch(/X509v3 Authority Key Identifier:/);
    const caText = await openssl('x509', '-in', caFile, '-noout', '-text');
    expect(caText).toMatch(/X509v3 Basic Constraints: critical\s+CA:TRUE, pathlen:0/);
    expect(caText).toMatch(/X509v3 Key Usage: critical\s+Digital Signature, Certificate Sign, CRL Sign/);
    const fingerprint = (await openssl('x509', '-in', caFile, '-noout', '-fingerprint', '-sha256')).trim();
    expect(fingerprint.split('=')[1]!.replace(/:/g, '').toLowerCase()).toBe(caFingerprint(ca.certPem));
  });

  it('reads CSRs OpenSSL makes, OpenSSL verifies the ones berth makes, and an RSA request is refused', async () => {
    const keyPem = newPrivateKey();
    const ours = await file('ours.csr', createCsr(keyPem, 'node:n2'));
    const verified = await exec('openssl', ['req', '-in', ours, '-noout', '-verify']);
    expect(`${verified.stdout}${verified.stderr}`).toContain('self-signature verify OK');
    expect(await openssl('req', '-in', ours, '-noout', '-subject')).toBe('subject=O = berth, CN = node:n2\n');

    const ecKey = await file('ec.key', keyPem);
    const theirs = await openssl('req', '-new', '-key', ecKey, '-subj', '/CN=node:n3', '-sha256');
    expect(readCsr(theirs).commonName).toBe('node:n3');

    const rsaKey = join(dir, 'rsa.key');
    await exec('openssl', ['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', rsaKey]);
    const rsa = await openssl('req', '-new', '-key', rsaKey, '-subj', '/CN=node:n4', '-sha256');
    expect(() => readCsr(rsa)).toThrow(/ecdsa-with-SHA256/);
    expect(await readFile(ecKey, 'utf8')).toContain('BEGIN PRIVATE KEY');
  });
});

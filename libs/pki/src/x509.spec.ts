import { createPrivateKey, createPublicKey, generateKeyPairSync, X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { connect, createServer, type TLSSocket } from 'node:tls';
import { describe, expect, it } from 'vitest';
import { caFingerprint, certificateCommonName, createCa, createCsr, issueCertificate, newPrivateKey, readCsr, verifyClientCertificate, type KeyedCertificate } from './x509';

const DAY = 86_400_000;
const publicKeyOf = (keyPem: string) => createPublicKey(createPrivateKey(keyPem));

/** A leaf with its own key, issued by `ca`. */
function leaf(ca: KeyedCertificate, commonName: string, extra: Partial<Parameters<typeof issueCertificate>[1]> = {}): KeyedCertificate {
  const keyPem = newPrivateKey();
  return { keyPem, certPem: issueCertificate(ca, { publicKey: publicKeyOf(keyPem), commonName, uses: ['server', 'client'], lifetimeMs: 90 * DAY, ...extra }) };
}

describe('createCa', () => {
  const now = new Date('2026-12-05T11:00:00Z');
  const ca = createCa({ commonName: 'berth cluster CA', now });
  const cert = new X509Certificate(ca.certPem);

  it('is a self-signed CA certificate for its own key, valid for ten years from a little before now', () => {
    expect(cert.ca).toBe(true);
    expect(cert.subject).toBe('O=berth\nCN=berth cluster CA');
    expect(cert.issuer).toBe(cert.subject);
    expect(cert.verify(cert.publicKey)).toBe(true);
    expect(cert.checkPrivateKey(createPrivateKey(ca.keyPem))).toBe(true);
    expect(new Date(cert.validFrom).getTime()).toBe(now.getTime() - 5 * 60_000);
    expect(new Date(cert.validTo).getTime()).toBe(now.getTime() + 3650 * DAY);
    expect(cert.publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
  });

  it('has a fingerprint that is SHA-256 over its DER, as X509Certificate computes it', () => {
    expect(caFingerprint(ca.certPem)).toBe(cert.fingerprint256.replace(/:/g, '').toLowerCase());
    expect(caFingerprint(ca.certPem)).toMatch(/^[0-9a-f]{64}$/);
  });

  it('gives every certificate a new serial and a new key', () => {
    const other = createCa({ commonName: 'berth cluster CA', now });
    expect(new X509Certificate(other.certPem).serialNumber).not.toBe(cert.serialNumber);
    expect(other.keyPem).not.toBe(ca.keyPem);
  });
});

describe('issueCertificate', () => {
  const ca = createCa({ commonName: 'berth cluster CA' });
  const caCert = new X509Certificate(ca.certPem);

  it('signs a leaf with the CA key, for the names and addresses asked, with the uses asked', () => {
    const { certPem } = leaf(ca, 'control-plane', { dnsNames: ['localhost', 'cp.example'], ipAddresses: ['127.0.0.1', '::1', 'fd00::1:2'], uses: ['server'] });
    const cert = new X509Certificate(certPem);
    expect(cert.verify(caCert.publicKey)).toBe(true);
    expect(cert.checkIssued(caCert)).toBe(true);
    expect(cert.ca).toBe(false);
    expect(cert.subject).toBe('O=berth\nCN=control-plane');
    expect(certificateCommonName(cert)).toBe('control-plane');
    expect(cert.subjectAltName).toBe('DNS:localhost, DNS:cp.example, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1, IP Address:FD00:0:0:0:0:0:1:2');
    expect(cert.checkHost('cp.example')).toBe('cp.example');
    expect(cert.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(cert.checkHost('other.example')).toBeUndefined();
    expect(cert.keyUsage).toEqual(['1.3.6.1.5.5.7.3.1']);
  });

  it('never outlives the CA', () => {
    const shortCa = createCa({ commonName: 'short', lifetimeMs: 10 * DAY });
    const cert = new X509Certificate(leaf(shortCa, 'node:n1', { lifetimeMs: 90 * DAY }).certPem);
    expect(cert.validTo).toBe(new X509Certificate(shortCa.certPem).validTo);
  });

  it('refuses a key that is not P-256, no use at all, and a name that is no IP address', () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey;
    expect(() => issueCertificate(ca, { publicKey: rsa, commonName: 'x', uses: ['client'], lifetimeMs: DAY })).toThrow(/must be ECDSA P-256 \(got rsa\)/);
    const key = publicKeyOf(newPrivateKey());
    expect(() => issueCertificate(ca, { publicKey: key, commonName: 'x', uses: [], lifetimeMs: DAY })).toThrow(/at least one use/);
    expect(() => issueCertificate(ca, { publicKey: key, commonName: 'x', uses: ['server'], ipAddresses: ['cp.example'], lifetimeMs: DAY })).toThrow(/is not an IP address/);
    expect(() => issueCertificate(ca, { publicKey: key, commonName: '', uses: ['server'], lifetimeMs: DAY })).toThrow(/1–64 characters/);
  });
});

describe('CSRs', () => {
  it('carry the name and the public key of whoever holds the private key', () => {
    const keyPem = newPrivateKey();
    const csr = createCsr(keyPem, 'node:n1');
    expect(csr).toMatch(/^-----BEGIN CERTIFICATE REQUEST-----\n/);
    const read = readCsr(csr);
    expect(read.commonName).toBe('node:n1');
    expect(read.publicKey.export({ type: 'spki', format: 'der' }).equals(publicKeyOf(keyPem).export({ type: 'spki', format: 'der' }))).toBe(true);
  });

  it('are refused when changed after signing, or when they are not CSRs', () => {
    const der = Buffer.from(createCsr(newPrivateKey(), 'node:n1').split('\n').filter((l) => !l.startsWith('-----')).join(''), 'base64');
    const at = der.indexOf(Buffer.from('node:n1'));
    const forged = Buffer.from(der);
    forged.write('node:n2', at);
    expect(() => readCsr(forged)).toThrow(/signature does not match/);
    expect(() => readCsr('hello')).toThrow(/not a PEM CERTIFICATE REQUEST/);
    expect(() => readCsr(Buffer.from('300302012a', 'hex'))).toThrow(/not a PKCS #10 request/);
  });
});

describe('verifyClientCertificate', () => {
  const ca = createCa({ commonName: 'test CA' });
  const other = createCa({ commonName: 'other CA' });
  const key = createPublicKey(createPrivateKey(newPrivateKey()));
  const der = (signer: KeyedCertificate, o: { uses?: ('client' | 'server')[]; now?: Date } = {}) =>
    new X509Certificate(issueCertificate(signer, { publicKey: key, commonName: 'node:n1', uses: o.uses ?? ['client'], lifetimeMs: 3_600_000, ...(o.now ? { now: o.now } : {}) })).raw;

  it("names the node and the serial of a client certificate of the cluster's CA", () => {
    const raw = der(ca);
    const v = verifyClientCertificate(raw, ca.certPem);
    expect(v.commonName).toBe('node:n1');
    expect(v.serial).toBe(new X509Certificate(raw).serialNumber.toUpperCase());
  });

  it("refuses another CA's certificate, an expired one, a server-only one and garbage, saying why", () => {
    expect(() => verifyClientCertificate(der(other), ca.certPem)).toThrow(/not issued by this cluster's CA/);
    expect(() => verifyClientCertificate(der(ca, { now: new Date(Date.now() - 86_400_000) }), ca.certPem)).toThrow(/expired at/);
    expect(() => verifyClientCertificate(der(ca, { uses: ['server'] }), ca.certPem)).toThrow(/not for client authentication/);
    expect(() => verifyClientCertificate(Buffer.from('nope'), ca.certPem)).toThrow(/cannot be read/);
  });
});

describe('mutual TLS with the cluster certificates', () => {
  /** Connects a client with `client` (or none) to a server that wants a client certificate of `ca`; the server's view of it. */
  async function handshake(ca: KeyedCertificate, client: KeyedCertificate | undefined, trust: KeyedCertificate = ca): Promise<{ authorized: boolean; peer?: string; error?: string }> {
    const server = leaf(ca, 'control-plane', { ipAddresses: ['127.0.0.1'], uses: ['server'] });
    const tls = createServer({ cert: server.certPem, key: server.keyPem, ca: ca.certPem, requestCert: true, rejectUnauthorized: false });
    const seen = new Promise<{ authorized: boolean; peer?: string; error?: string }>((resolve) => {
      tls.on('secureConnection', (s: TLSSocket) => {
        const cert = s.getPeerX509Certificate();
        resolve({ authorized: s.authorized, ...(cert ? { peer: certificateCommonName(cert) } : {}), ...(s.authorizationError ? { error: String(s.authorizationError) } : {}) });
        s.end();
      });
    });
    tls.listen(0, '127.0.0.1');
    await once(tls, 'listening');
    const { port } = tls.address() as AddressInfo;
    const socket = connect({ host: '127.0.0.1', port, ca: trust.certPem, ...(client ? { cert: client.certPem, key: client.keyPem } : {}) });
    try {
      await once(socket, 'secureConnect');
      return await seen;
    } finally {
      socket.destroy();
      tls.close();
    }
  }

  it('a node certificate of the cluster CA is authorized, and names the node', async () => {
    const ca = createCa({ commonName: 'berth cluster CA' });
    expect(await handshake(ca, leaf(ca, 'node:n1', { uses: ['client'] }))).toEqual({ authorized: true, peer: 'node:n1' });
  });

  it('a certificate of another CA, and none at all, are not', async () => {
    const ca = createCa({ commonName: 'berth cluster CA' });
    const other = createCa({ commonName: 'berth cluster CA' });
    expect(await handshake(ca, leaf(other, 'node:n1', { uses: ['client'] }))).toMatchObject({ authorized: false, peer: 'node:n1' });
    expect(await handshake(ca, undefined)).toMatchObject({ authorized: false });
  });

  it('a client that pins another CA does not accept the server', async () => {
    const ca = createCa({ commonName: 'berth cluster CA' });
    const other = createCa({ commonName: 'berth cluster CA' });
    await expect(handshake(ca, undefined, other)).rejects.toThrow(/self[- ]signed|unable to verify|certificate signature failure/i);
  });
});

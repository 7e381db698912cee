import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, sign, verify, X509Certificate, type KeyObject } from 'node:crypto';
import { isIP } from 'node:net';
import { bitString, boolean, children, expectElement, explicit, integer, octetString, oid, readOid, sequence, set, TAG, time, tlv, utf8String } from './der';

/**
 * The cluster's certificates: ECDSA P-256 keys, ecdsa-with-SHA256 signatures, X.509 v3 with the
 * extensions TLS peers check (RFC 5280). Built here with node:crypto alone — Node parses and
 * verifies certificates (X509Certificate) but does not make them.
 */

const OID = {
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  commonName: '2.5.4.3',
  organization: '2.5.4.10',
  subjectKeyIdentifier: '2.5.29.14',
  keyUsage: '2.5.29.15',
  subjectAltName: '2.5.29.17',
  basicConstraints: '2.5.29.19',
  authorityKeyIdentifier: '2.5.29.35',
  extKeyUsage: '2.5.29.37',
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
} as const;

/** The organisation every berth certificate names, so a cluster's certificates are recognisable in any tool. */
export const ORGANIZATION = 'berth';
/** How far back notBefore is set, so a peer whose clock is a little behind accepts a fresh certificate. */
export const CLOCK_SKEW_MS = 5 * 60_000;

const DAY_MS = 86_400_000;

/** A certificate with its private key, both PEM (the CA's, or a server's). */
export interface KeyedCertificate {
  readonly certPem: string;
  readonly keyPem: string;
}

/** A new ECDSA P-256 private key, PEM (PKCS #8). */
export function newPrivateKey(): string {
  return generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
}

/** A self-signed CA certificate and its key: `CN=<commonName>, O=berth`, path length 0 (it signs leaves only). */
export function createCa(o: { readonly commonName: string; readonly lifetimeMs?: number; readonly now?: Date }): KeyedCertificate {
  const keyPem = newPrivateKey();
  const key = createPrivateKey(keyPem);
  const spki = spkiOf(createPublicKey(key));
  const now = o.now ?? new Date();
  const name = distinguishedName(o.commonName);
  const certPem = signCertificate({
    issuer: name,
    subject: name,
    spki,
    signer: key,
    notBefore: new Date(now.getTime() - CLOCK_SKEW_MS),
    notAfter: new Date(now.getTime() + (o.lifetimeMs ?? 10 * 365 * DAY_MS)),
    extensions: [
      extension(OID.basicConstraints, sequence(boolean(true), integer(0)), true),
      // digitalSignature (bit 0), keyCertSign (5), cRLSign (6).
      extension(OID.keyUsage, namedBits([0, 5, 6]), true),
      extension(OID.subjectKeyIdentifier, octetString(keyIdentifier(spki))),
    ],
  });
  return { certPem, keyPem };
}

/** What a leaf certificate is for: a TLS server (API, gRPC), a TLS client (an agent, etcd's clients), or both. */
export type CertificateUse = 'server' | 'client';

export interface LeafRequest {
  /** The subject's public key: from a CSR (readCsr), or the key next to a server certificate. */
  readonly publicKey: KeyObject;
  readonly commonName: string;
  readonly uses: readonly CertificateUse[];
  /** Subject alternative names: DNS names and IP addresses (v4 or v6) the certificate is valid for. */
  readonly dnsNames?: readonly string[];
  readonly ipAddresses?: readonly string[];
  readonly lifetimeMs: number;
  readonly now?: Date;
}

/** A leaf certificate for `r`, signed by `ca`, as PEM. Throws on a key that is not P-256 or a bad address. */
export function issueCertificate(ca: KeyedCertificate, r: LeafRequest): string {
  requireP256(r.publicKey);
  if (r.uses.length === 0) throw new RangeError('a certificate needs at least one use (server, client)');
  const caCert = new X509Certificate(ca.certPem);
  const caSpki = spkiOf(caCert.publicKey);
  const now = r.now ?? new Date();
  const spki = spkiOf(r.publicKey);
  const names = [
    ...(r.dnsNames ?? []).map((n) => tlv(TAG.CONTEXT_PRIMITIVE | 2, Buffer.from(n, 'ascii'))),
    ...(r.ipAddresses ?? []).map((ip) => tlv(TAG.CONTEXT_PRIMITIVE | 7, ipBytes(ip))),
  ];
  const extensions = [
    extension(OID.basicConstraints, sequence(), true),
    extension(OID.keyUsage, namedBits([0]), true),
    extension(OID.extKeyUsage, sequence(...r.uses.map((u) => oid(u === 'server' ? OID.serverAuth : OID.clientAuth)))),
    extension(OID.subjectKeyIdentifier, octetString(keyIdentifier(spki))),
    extension(OID.authorityKeyIdentifier, sequence(tlv(TAG.CONTEXT_PRIMITIVE | 0, keyIdentifier(caSpki)))),
    ...(names.length > 0 ? [extension(OID.subjectAltName, sequence(...names))] : []),
  ];
  return signCertificate({
    issuer: Buffer.from(subjectNameDer(caCert)),
    subject: distinguishedName(r.commonName),
    spki,
    signer: createPrivateKey(ca.keyPem),
    notBefore: new Date(now.getTime() - CLOCK_SKEW_MS),
    notAfter: new Date(Math.min(now.getTime() + r.lifetimeMs, new Date(caCert.validTo).getTime())),
    extensions,
  });
}

/**
 * A PKCS #10 certificate signing request for `commonName`, signed with `keyPem` (the requester
 * proves it holds the key; the key itself never leaves it). PEM.
 */
export function createCsr(keyPem: string, commonName: string): string {
  const key = createPrivateKey(keyPem);
  const info = sequence(integer(0), distinguishedName(commonName), spkiOf(createPublicKey(key)), explicit(0, Buffer.alloc(0)));
  const der = sequence(info, sequence(oid(OID.ecdsaWithSha256)), bitString(sign('sha256', info, key)));
  return pem('CERTIFICATE REQUEST', der);
}

/** What a verified CSR asks for. */
export interface CsrContent {
  readonly commonName: string;
  readonly publicKey: KeyObject;
}

/**
 * Reads a PKCS #10 request (PEM or DER) and checks its signature with the key it carries.
 * Throws RangeError when it is malformed, not ecdsa-with-SHA256 over a P-256 key, or not signed
 * by that key.
 */
export function readCsr(csr: string | Buffer): CsrContent {
  const der = typeof csr === 'string' ? unpem(csr, 'CERTIFICATE REQUEST') : csr;
  const [info, algorithm, signature] = children(expectElement(der, TAG.SEQUENCE, 'CSR').value);
  if (!info || !algorithm || !signature || signature.tag !== TAG.BIT_STRING) throw new RangeError('CSR: not a PKCS #10 request');
  const [version, subject, spki] = children(info.value);
  if (!version || !subject || !spki || version.tag !== TAG.INTEGER || version.value.length !== 1 || version.value[0] !== 0) {
    throw new RangeError('CSR: not a version 1 request');
  }
  const [alg] = children(algorithm.value);
  if (!alg || alg.tag !== TAG.OID || readOid(alg.value) !== OID.ecdsaWithSha256) throw new RangeError('CSR: the signature must be ecdsa-with-SHA256');
  let publicKey: KeyObject;
  try {
    publicKey = createPublicKey({ key: spki.raw, format: 'der', type: 'spki' });
  } catch {
    throw new RangeError('CSR: its public key cannot be read');
  }
  requireP256(publicKey);
  if (signature.value[0] !== 0 || !verify('sha256', info.raw, publicKey, signature.value.subarray(1))) {
    throw new RangeError('CSR: the signature does not match its public key');
  }
  const commonName = commonNameOf(subject.value);
  if (commonName === undefined) throw new RangeError('CSR: the subject has no common name');
  return { commonName, publicKey };
}

/**
 * The CA's fingerprint: SHA-256 over its certificate's DER, lower-case hex. What a join token
 * pins: an agent trusts a CA only when this matches.
 */
export function caFingerprint(certPem: string): string {
  return createHash('sha256').update(new X509Certificate(certPem).raw).digest('hex');
}

/** What a verified client certificate says. */
export interface VerifiedCertificate {
  readonly commonName: string;
  /** Upper-case hex, as node:crypto prints it. */
  readonly serial: string;
  readonly notAfter: Date;
}

/**
 * Checks a TLS peer's certificate (DER, as the TLS socket hands it over): signed by `caPem`,
 * valid at `now`, meant for client authentication, with a common name. Throws RangeError saying
 * which check failed.
 */
export function verifyClientCertificate(der: Buffer, caPem: string, now: Date = new Date()): VerifiedCertificate {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(der);
  } catch {
    throw new RangeError('the certificate cannot be read');
  }
  const ca = new X509Certificate(caPem);
  if (!cert.checkIssued(ca) || !cert.verify(ca.publicKey)) throw new RangeError('the certificate was not issued by this cluster\'s CA');
  const notAfter = new Date(cert.validTo);
  if (now < new Date(cert.validFrom)) throw new RangeError(`the certificate is not valid before ${new Date(cert.validFrom).toISOString()}`);
  if (now > notAfter) throw new RangeError(`the certificate expired at ${notAfter.toISOString()}`);
  if (!(cert.keyUsage ?? []).includes(OID.clientAuth)) throw new RangeError('the certificate is not for client authentication');
  const commonName = certificateCommonName(cert);
  if (commonName === undefined) throw new RangeError('the certificate names no subject');
  return { commonName, serial: cert.serialNumber.toUpperCase(), notAfter };
}

/** The common name of a certificate's subject (`CN=node:n1, O=berth` → `node:n1`). */
export function certificateCommonName(cert: X509Certificate): string | undefined {
  return commonNameOf(expectElement(subjectNameDer(cert), TAG.SEQUENCE, 'name').value);
}

// --- building blocks -----------------------------------------------------------------------------

function signCertificate(o: {
  readonly issuer: Buffer;
  readonly subject: Buffer;
  readonly spki: Buffer;
  readonly signer: KeyObject;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly extensions: readonly Buffer[];
}): string {
  const serial = randomBytes(16);
  serial[0]! &= 0x7f; // positive, and never more than 20 bytes (RFC 5280 4.1.2.2)
  const algorithm = sequence(oid(OID.ecdsaWithSha256));
  const tbs = sequence(
    explicit(0, integer(2)), // v3
    integer(serial),
    algorithm,
    o.issuer,
    sequence(time(o.notBefore), time(o.notAfter)),
    o.subject,
    o.spki,
    explicit(3, sequence(...o.extensions)),
  );
  return pem('CERTIFICATE', sequence(tbs, algorithm, bitString(sign('sha256', tbs, o.signer))));
}

function distinguishedName(commonName: string): Buffer {
  if (commonName.length === 0 || commonName.length > 64) throw new RangeError(`a common name must have 1–64 characters (got ${commonName.length})`);
  const rdn = (type: string, value: string) => set(sequence(oid(type), utf8String(value)));
  return sequence(rdn(OID.organization, ORGANIZATION), rdn(OID.commonName, commonName));
}

function extension(id: string, value: Buffer, critical = false): Buffer {
  return sequence(oid(id), ...(critical ? [boolean(true)] : []), octetString(value));
}

/** A BIT STRING of named bits (bit 0 is the first byte's high bit), trailing zero bits dropped as DER wants. */
function namedBits(bits: readonly number[]): Buffer {
  const highest = Math.max(...bits);
  const bytes = Buffer.alloc(Math.floor(highest / 8) + 1);
  for (const b of bits) bytes[Math.floor(b / 8)]! |= 0x80 >> b % 8;
  const unused = 7 - (highest % 8);
  return tlv(TAG.BIT_STRING, Buffer.concat([Buffer.from([unused]), bytes]));
}

/** RFC 5280's method 1: SHA-1 of the subjectPublicKey bits. */
function keyIdentifier(spki: Buffer): Buffer {
  const [, key] = children(expectElement(spki, TAG.SEQUENCE, 'public key').value);
  return createHash('sha1').update(key!.value.subarray(1)).digest();
}

function spkiOf(key: KeyObject): Buffer {
  return key.export({ type: 'spki', format: 'der' });
}

function requireP256(key: KeyObject): void {
  if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    const got = [key.asymmetricKeyType ?? 'unknown', key.asymmetricKeyDetails?.namedCurve].filter(Boolean).join(' ');
    throw new RangeError(`the key must be ECDSA P-256 (got ${got})`);
  }
}

function ipBytes(ip: string): Buffer {
  const family = isIP(ip);
  if (family === 4) return Buffer.from(ip.split('.').map(Number));
  if (family === 6) {
    const [head, tail] = ip.includes('::') ? ip.split('::') : [ip, undefined];
    const groups = (s: string | undefined) => (s ? s.split(':') : []);
    const h = groups(head);
    const t = groups(tail);
    const all = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
    return Buffer.concat(all.map((g) => Buffer.from(g.padStart(4, '0'), 'hex')));
  }
  throw new RangeError(`"${ip}" is not an IP address`);
}

/** The subject Name of a certificate, as DER (the issuer Name of what it signs). */
function subjectNameDer(cert: X509Certificate): Buffer {
  const [tbs] = children(expectElement(cert.raw, TAG.SEQUENCE, 'certificate').value);
  const fields = children(tbs!.value);
  // version [0], serial, signature, issuer, validity, subject
  const offset = fields[0]?.tag === (TAG.CONTEXT | 0) ? 1 : 0;
  return fields[offset + 4]!.raw;
}

/** The last common name in a Name (its SEQUENCE's value), as X.509 tools show the most specific one. */
function commonNameOf(name: Buffer): string | undefined {
  let found: string | undefined;
  for (const rdn of children(name)) {
    for (const attribute of children(rdn.value)) {
      const [type, value] = children(attribute.value);
      if (type?.tag === TAG.OID && readOid(type.value) === OID.commonName && value) found = value.value.toString('utf8');
    }
  }
  return found;
}

function pem(label: string, der: Buffer): string {
  const body = der.toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '');
  return `-----BEGIN ${label}-----\n${body}\n-----END ${label}-----\n`;
}

function unpem(text: string, label: string): Buffer {
  const m = new RegExp(`-----BEGIN ${label}-----([A-Za-z0-9+/=\\s]+)-----END ${label}-----`).exec(text);
  if (!m) throw new RangeError(`not a PEM ${label}`);
  return Buffer.from(m[1]!.replace(/\s+/g, ''), 'base64');
}

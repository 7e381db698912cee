import { createPrivateKey, createPublicKey, X509Certificate } from 'node:crypto';
import type { PeerCertificate } from 'node:tls';
import { describe, expect, it } from 'vitest';
import { createCa, issueCertificate, newPrivateKey } from '@berth/pki';
import { IP_TARGET_SERVER_NAME, tlsTarget } from './tls-target';

/** A certificate as a TLS socket hands it to checkServerIdentity (subject and altnames). */
function peer(o: { ipAddresses?: string[]; dnsNames?: string[] }): PeerCertificate {
  const ca = createCa({ commonName: 'test CA' });
  const pem = issueCertificate(ca, { publicKey: createPublicKey(createPrivateKey(newPrivateKey())), commonName: 'control plane', uses: ['server'], lifetimeMs: 3_600_000, ...o });
  const x = new X509Certificate(pem);
  return { subject: { CN: 'control plane' }, subjectaltname: x.subjectAltName } as unknown as PeerCertificate;
}

describe('tlsTarget', () => {
  it('sends a fixed server name for an IP, and still checks the certificate against that IP', () => {
    const t = tlsTarget('10.0.0.1:7071');
    expect(t.options).toEqual({ 'grpc.ssl_target_name_override': IP_TARGET_SERVER_NAME });
    expect(t.verify.checkServerIdentity?.(IP_TARGET_SERVER_NAME, peer({ ipAddresses: ['10.0.0.1'] }))).toBeUndefined();
    expect(t.verify.checkServerIdentity?.(IP_TARGET_SERVER_NAME, peer({ ipAddresses: ['10.0.0.2'], dnsNames: [IP_TARGET_SERVER_NAME] }))).toBeInstanceOf(Error);
    expect(tlsTarget('[::1]:7071').verify.checkServerIdentity?.('x', peer({ ipAddresses: ['::1'] }))).toBeUndefined();
  });

  it('leaves a DNS name as grpc-js sends and checks it', () => {
    expect(tlsTarget('cp.example:7071')).toEqual({ options: {}, verify: {} });
  });
});

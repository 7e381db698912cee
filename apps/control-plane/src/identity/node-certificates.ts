import { X509Certificate } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { AlreadyExistsError } from '@berth/core';
import { issueCertificate, readCsr, verifyClientCertificate, type CsrContent } from '@berth/pki';
import { IDENTITY } from '../tokens';
import { AccessError, type IdentityDeps } from './identity';
import { TokenService } from './tokens.service';

/** A node as its client certificate proves it. */
export interface CertifiedNode {
  readonly name: string;
  readonly serial: string;
}

/** What node names may be: a certificate's `CN=node:<name>` and a Hello's name alike. */
export const NODE_NAME = /^[a-z0-9]([-a-z0-9_.]*[a-z0-9])?$/i;
const NODE_CN = 'node:';

/**
 * Node certificates: issued for a join token and a CSR (the node keeps its key), renewed for the
 * node a valid certificate names, checked on every session. A certificate counts only while the
 * node's record in etcd lists it: removing the node revokes them all at once.
 */
@Injectable()
export class NodeCertificates {
  constructor(
    @Inject(IDENTITY) private readonly deps: IdentityDeps,
    private readonly tokens: TokenService,
  ) {}

  get caPem(): string {
    return this.deps.ca.certPem;
  }

  /** A first certificate for a new node: the token must be a valid join token, the CSR name a free node name. */
  async join(token: string, csrPem: string, now: Date = new Date()): Promise<string> {
    const check = await this.tokens.check(token, now);
    if ('refused' in check) throw new AccessError('UNAUTHENTICATED', check.refused);
    if (check.token.role !== 'join') throw new AccessError('UNAUTHENTICATED', `token ${check.token.id} is an API token (${check.token.role}): only a join token admits a node`);
    const csr = readRequest(csrPem);
    const name = nodeNameOf(csr);
    try {
      return await this.issue(name, csr, { join: true, now });
    } catch (e) {
      if (e instanceof AlreadyExistsError) {
        throw new AccessError('ALREADY_EXISTS', `node "${name}" has joined already: remove it first (berth node rm ${name}) or join under another name`);
      }
      throw e;
    }
  }

  /** A new certificate for the node `peer` is: same name, a new key. */
  async renew(peer: CertifiedNode, csrPem: string, now: Date = new Date()): Promise<string> {
    await this.requireCurrent(peer);
    const csr = readRequest(csrPem);
    const name = nodeNameOf(csr);
    if (name !== peer.name) throw new AccessError('PERMISSION_DENIED', `node ${peer.name} cannot renew a certificate for node ${name}`);
    return this.issue(name, csr, { join: false, now });
  }

  /** The node a TLS peer's certificate (DER) proves; UNAUTHENTICATED without one, or for one this cluster did not issue to a node. */
  authenticate(peerCertificate: Buffer | undefined, now: Date = new Date()): CertifiedNode {
    if (!peerCertificate || peerCertificate.length === 0) {
      // The TLS layer hands over only certificates that chain to the cluster CA: none, or another CA's, end here.
      throw new AccessError('UNAUTHENTICATED', "a node certificate of this cluster's CA is needed (none was presented, or another CA's): join the cluster with a token (berth agent --token …)");
    }
    let verified;
    try {
      verified = verifyClientCertificate(peerCertificate, this.deps.ca.certPem, now);
    } catch (e) {
      throw new AccessError('UNAUTHENTICATED', `node certificate refused: ${(e as Error).message}`);
    }
    if (!verified.commonName.startsWith(NODE_CN)) throw new AccessError('UNAUTHENTICATED', `"${verified.commonName}" is not a node certificate`);
    return { name: verified.commonName.slice(NODE_CN.length), serial: verified.serial };
  }

  /** UNAUTHENTICATED unless the node still holds the certificate (removing a node revokes its certificates). */
  async requireCurrent(peer: CertifiedNode): Promise<void> {
    const record = await this.deps.store.nodeCertificates(peer.name);
    if (!record?.certificates.some((c) => c.serial === peer.serial)) {
      throw new AccessError('UNAUTHENTICATED', `the certificate of node ${peer.name} was revoked (the node was removed): join it again with a token`);
    }
  }

  private async issue(name: string, csr: CsrContent, o: { readonly join: boolean; readonly now: Date }): Promise<string> {
    const certPem = issueCertificate(this.deps.ca, { publicKey: csr.publicKey, commonName: `${NODE_CN}${name}`, uses: ['client'], lifetimeMs: this.deps.nodeCertificateLifetimeMs, now: o.now });
    const cert = new X509Certificate(certPem);
    // Recorded before it is handed out: a certificate the store does not list is never in use.
    await this.deps.store.addNodeCertificate(name, { serial: cert.serialNumber.toUpperCase(), expiresAt: new Date(cert.validTo).toISOString() }, o);
    return certPem;
  }
}

function readRequest(csrPem: string): CsrContent {
  try {
    return readCsr(csrPem);
  } catch (e) {
    throw new AccessError('INVALID_ARGUMENT', (e as Error).message);
  }
}

function nodeNameOf(csr: CsrContent): string {
  const name = csr.commonName.startsWith(NODE_CN) ? csr.commonName.slice(NODE_CN.length) : '';
  if (!NODE_NAME.test(name) || name.length > 63) {
    throw new AccessError('INVALID_ARGUMENT', `the CSR must name a node as CN=node:<name> (letters, digits, "-", "_", "."), not "${csr.commonName}"`);
  }
  return name;
}

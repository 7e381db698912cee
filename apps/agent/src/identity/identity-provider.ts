import { experimental, type ChannelCredentials, type VerifyOptions } from '@grpc/grpc-js';
import type { NodeIdentity } from './node-identity';

type CertificateProvider = experimental.CertificateProvider;
type CaListener = experimental.CaCertificateUpdateListener;
type IdentityListener = experimental.IdentityCertificateUpdateListener;

/**
 * The node's current identity for grpc-js: the cluster CA (to verify the control plane) and the
 * node's certificate and key (to present). grpc-js reads the latest values at every new TLS
 * connection, so after a renewal new connections present the new certificate while connections
 * already up (the session's stream) stay as they are.
 */
export class IdentityProvider implements CertificateProvider {
  private readonly caListeners = new Set<CaListener>();
  private readonly identityListeners = new Set<IdentityListener>();
  private readonly credentials: ChannelCredentials;

  /** `verify`: how the control plane's certificate is checked beyond the CA (tlsTarget). */
  constructor(
    private identity: NodeIdentity,
    verify: VerifyOptions = {},
  ) {
    // CA provider first, identity provider second (channel-credentials.js).
    this.credentials = experimental.createCertificateProviderChannelCredentials(this, this, verify);
  }

  get current(): NodeIdentity {
    return this.identity;
  }

  /** Mutual-TLS credentials that always use the current identity. One object: channels may share subchannels. */
  channelCredentials(): ChannelCredentials {
    return this.credentials;
  }

  /** A renewed identity: new connections use it from now on. */
  update(identity: NodeIdentity): void {
    this.identity = identity;
    for (const l of this.caListeners) l(this.caUpdate());
    for (const l of this.identityListeners) l(this.identityUpdate());
  }

  addCaCertificateListener(listener: CaListener): void {
    this.caListeners.add(listener);
    listener(this.caUpdate());
  }

  removeCaCertificateListener(listener: CaListener): void {
    this.caListeners.delete(listener);
  }

  addIdentityCertificateListener(listener: IdentityListener): void {
    this.identityListeners.add(listener);
    listener(this.identityUpdate());
  }

  removeIdentityCertificateListener(listener: IdentityListener): void {
    this.identityListeners.delete(listener);
  }

  private caUpdate(): experimental.CaCertificateUpdate {
    return { caCertificate: Buffer.from(this.identity.caPem) };
  }

  private identityUpdate(): experimental.IdentityCertificateUpdate {
    return { certificate: Buffer.from(this.identity.certPem), privateKey: Buffer.from(this.identity.keyPem) };
  }
}

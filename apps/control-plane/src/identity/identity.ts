import type { ClusterIdentityStore } from '@berth/store';
import type { ServingCertificate } from './serving-certificate';

/** The cluster CA as the control plane holds it: certificate and key (the key only on control-plane hosts). */
export interface ClusterCa {
  readonly certPem: string;
  readonly keyPem: string;
  /** caFingerprint(certPem): what join tokens pin. */
  readonly fingerprint: string;
}

/** What the composition root hands the identity module. */
export interface IdentityDeps {
  readonly store: ClusterIdentityStore;
  readonly ca: ClusterCa;
  /** The control plane's own certificate for the API and the gRPC port. */
  readonly serving: ServingCertificate;
  /** How long a node certificate lasts (default 90 days); agents renew it at 50–80 % of that. */
  readonly nodeCertificateLifetimeMs: number;
}

export const NODE_CERTIFICATE_LIFETIME_MS = 90 * 86_400_000;

/** Why a caller was refused, as the gRPC status it maps to. */
export class AccessError extends Error {
  constructor(
    readonly code: 'UNAUTHENTICATED' | 'PERMISSION_DENIED' | 'ALREADY_EXISTS' | 'INVALID_ARGUMENT',
    message: string,
  ) {
    super(message);
    this.name = 'AccessError';
  }
}

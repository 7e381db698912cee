export { establishIdentity, JOIN_HINT, type EstablishOptions } from './establish';
export { IdentityProvider } from './identity-provider';
export { CA_CALL_DEADLINE_MS, details, isServiceError, joinCluster, joinTokenFingerprint, requestRenewal, type JoinOptions } from './join';
export { identityFiles, identityOf, loadIdentity, nodeCommonName, saveIdentity, WrongNodeError, type IdentityFiles, type NodeIdentity, type StoredIdentity } from './node-identity';
export { CertificateRenewer, renewalDelayMs, retryDelayMs, type RenewerOptions } from './renewal';

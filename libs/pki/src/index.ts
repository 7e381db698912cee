export {
  caFingerprint,
  certificateCommonName,
  CLOCK_SKEW_MS,
  createCa,
  createCsr,
  issueCertificate,
  newPrivateKey,
  ORGANIZATION,
  readCsr,
  type CertificateUse,
  type CsrContent,
  type KeyedCertificate,
  type LeafRequest,
  type VerifiedCertificate,
  verifyClientCertificate,
} from './x509';
export { hashSecret, newToken, parseToken, secretMatches, type ParsedToken, type TokenKind } from './tokens';
export { CLUSTER_CA_NAME, loadCa, loadOrCreateCa, readCertificateFiles, writeLeaf, type CertificateFiles } from './files';

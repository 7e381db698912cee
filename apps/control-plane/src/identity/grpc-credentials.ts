import { experimental, type ServerCredentials } from '@grpc/grpc-js';
import type { ServingCertificate } from './serving-certificate';

type CaListener = Parameters<experimental.CertificateProvider['addCaCertificateListener']>[0];
type IdentityListener = Parameters<experimental.CertificateProvider['addIdentityCertificateListener']>[0];

/**
 * TLS for the gRPC port: the control plane's serving certificate (re-issued ones taken up for new
 * connections), and a client certificate asked for but not required at the handshake, as joining
 * agents have none yet. Which calls need one, and whose it must be, is checked per call
 * (NodeCertificates.authenticate): only certificates of the cluster CA count.
 */
export function grpcServerCredentials(caPem: string, serving: ServingCertificate): ServerCredentials {
  const identities = new Set<IdentityListener>();
  // Listeners are told after add returns: grpc-js registers the server's own watcher only then,
  // and a value given synchronously would never reach it (every connection would be dropped).
  const provider: experimental.CertificateProvider = {
    addCaCertificateListener: (l: CaListener) => queueMicrotask(() => l({ caCertificate: Buffer.from(caPem) })),
    removeCaCertificateListener: () => undefined,
    addIdentityCertificateListener: (l: IdentityListener) => {
      identities.add(l);
      queueMicrotask(() => {
        const { certPem, keyPem } = serving.current;
        if (identities.has(l)) l({ certificate: Buffer.from(certPem), privateKey: Buffer.from(keyPem) });
      });
    },
    removeIdentityCertificateListener: (l: IdentityListener) => identities.delete(l),
  };
  serving.onRenewal(({ certPem, keyPem }) => {
    for (const l of identities) l({ certificate: Buffer.from(certPem), privateKey: Buffer.from(keyPem) });
  });
  // One provider for both roles: grpc-js 1.14 passes this function's two providers to the
  // credentials' constructor in the opposite order of its declaration.
  return experimental.createCertificateProviderServerCredentials(provider, provider, false);
}

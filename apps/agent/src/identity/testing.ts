import { createPublicKey } from 'node:crypto';
import { createCa, issueCertificate, newPrivateKey } from '@berth/pki';
import { identityFiles, identityOf, saveIdentity, type NodeIdentity } from './node-identity';

/**
 * For tests that start an agent without a control plane that issues certificates: writes a node
 * certificate of a throw-away CA into `<dataDir>/pki`, as a join would have, so startAgent needs
 * no token. Not for production use.
 */
export async function seedTestIdentity(dataDir: string, name: string, lifetimeMs = 86_400_000): Promise<NodeIdentity> {
  const ca = createCa({ commonName: 'berth test CA' });
  const keyPem = newPrivateKey();
  const certPem = issueCertificate(ca, { publicKey: createPublicKey(keyPem), commonName: `node:${name}`, uses: ['client'], lifetimeMs });
  const identity = identityOf(ca.certPem, certPem, keyPem, name);
  await saveIdentity(identityFiles(dataDir), identity);
  return identity;
}

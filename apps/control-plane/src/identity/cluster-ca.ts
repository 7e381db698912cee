import { join } from 'node:path';
import { caFingerprint, loadCa, loadOrCreateCa } from '@berth/pki';
import type { ClusterIdentityStore } from '@berth/store';
import type { ClusterCa } from './identity';

/**
 * The cluster CA this replica signs with: its certificate is in etcd (one per cluster), its key
 * in `<dataDir>/pki` (ca.pem, ca.key 0600). The first replica of a cluster creates the CA (or uses
 * the one its data dir holds) and stores the certificate; every later start checks that the data
 * dir holds that same CA. A replica without the key refuses to start: it could neither admit
 * nodes nor prove itself to them.
 */
export async function establishClusterCa(dataDir: string, store: ClusterIdentityStore): Promise<ClusterCa> {
  const dir = join(dataDir, 'pki');
  const stored = await store.caCertificate();
  if (stored !== undefined) {
    const local = await loadCa(dir);
    const fingerprint = caFingerprint(stored);
    if (!local) {
      throw new Error(`this cluster's CA (fingerprint ${fingerprint}) is in etcd, but its key is not in ${dir}: copy ca.pem and ca.key there from a control-plane host of this cluster`);
    }
    if (caFingerprint(local.certPem) !== fingerprint) {
      throw new Error(`${dir} holds a CA (fingerprint ${caFingerprint(local.certPem)}) other than this cluster's (fingerprint ${fingerprint}, in etcd): this data dir belongs to another cluster`);
    }
    return { certPem: local.certPem, keyPem: local.keyPem, fingerprint };
  }
  const ca = await loadOrCreateCa(dir);
  const winner = await store.storeCaCertificate(ca.certPem);
  if (winner !== ca.certPem) throw new Error(`another control plane stored a different cluster CA (fingerprint ${caFingerprint(winner)}) while this one started: copy its ca.pem and ca.key to ${dir}`);
  return { certPem: ca.certPem, keyPem: ca.keyPem, fingerprint: caFingerprint(ca.certPem) };
}

import { createPrivateKey, createPublicKey, X509Certificate } from 'node:crypto';
import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createCa, issueCertificate, newPrivateKey, type KeyedCertificate, type LeafRequest } from './x509';

/** A certificate on disk: the CA to trust, the certificate and its key (PEM files). */
export interface CertificateFiles {
  readonly caFile: string;
  readonly certFile: string;
  readonly keyFile: string;
}

/** The name a cluster CA is created with. */
export const CLUSTER_CA_NAME = 'berth cluster CA';

/**
 * The CA kept in `dir` (`ca.pem`, and `ca.key` readable by root only), created on first use.
 * `dir` is made mode 0700. Throws when only one of the two files exists, or they do not belong
 * together: a half-written CA is never silently replaced, since everything it signed would stop
 * being trusted.
 */
export async function loadOrCreateCa(dir: string): Promise<KeyedCertificate & { readonly created: boolean; readonly files: CertificateFiles }> {
  const existing = await loadCa(dir);
  if (existing) return { ...existing, created: false };
  const files = caFiles(dir);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
  const ca = createCa({ commonName: CLUSTER_CA_NAME });
  // The key first: a crash between the two leaves a key without certificate, which the check above reports.
  await writeSecret(files.keyFile, ca.keyPem);
  await writeAtomically(files.caFile, ca.certPem, 0o644);
  return { ...ca, created: true, files };
}

/**
 * The CA kept in `dir`, or undefined when neither file is there. Throws like loadOrCreateCa when
 * only one is, or they do not belong together.
 */
export async function loadCa(dir: string): Promise<(KeyedCertificate & { readonly files: CertificateFiles }) | undefined> {
  const files = caFiles(dir);
  const [certPem, keyPem] = await Promise.all([readOptional(files.caFile), readOptional(files.keyFile)]);
  if (certPem !== undefined && keyPem !== undefined) {
    if (!new X509Certificate(certPem).checkPrivateKey(createPrivateKey(keyPem))) throw new Error(`${files.keyFile} is not the key of ${files.caFile}`);
    return { certPem, keyPem, files };
  }
  if (certPem !== undefined || keyPem !== undefined) {
    throw new Error(`${dir} holds only one of ca.pem and ca.key: restore the other, or remove both to start a new CA (every certificate it signed is then distrusted)`);
  }
  return undefined;
}

function caFiles(dir: string): CertificateFiles {
  return { caFile: join(dir, 'ca.pem'), certFile: join(dir, 'ca.pem'), keyFile: join(dir, 'ca.key') };
}

/**
 * Issues a certificate with a new key for `request` (its public key is the new key's) and writes
 * `<name>.pem` and `<name>.key` (root only) in `dir`, replacing earlier ones. Returns the files,
 * with the CA's certificate file as `caFile`.
 */
export async function writeLeaf(dir: string, name: string, ca: KeyedCertificate & { readonly files: CertificateFiles }, request: Omit<LeafRequest, 'publicKey'>): Promise<CertificateFiles> {
  const keyPem = newPrivateKey();
  const certPem = issueCertificate(ca, { ...request, publicKey: createPublicKey(createPrivateKey(keyPem)) });
  const files = { caFile: ca.files.caFile, certFile: join(dir, `${name}.pem`), keyFile: join(dir, `${name}.key`) };
  await writeSecret(files.keyFile, keyPem);
  await writeAtomically(files.certFile, certPem, 0o644);
  return files;
}

/** The three files' contents, PEM. */
export async function readCertificateFiles(f: CertificateFiles): Promise<{ readonly ca: string; readonly cert: string; readonly key: string }> {
  const [ca, cert, key] = await Promise.all([readFile(f.caFile, 'utf8'), readFile(f.certFile, 'utf8'), readFile(f.keyFile, 'utf8')]);
  return { ca, cert, key };
}

function writeSecret(path: string, text: string): Promise<void> {
  return writeAtomically(path, text, 0o600);
}

async function writeAtomically(path: string, text: string, mode: number): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, text, { mode });
  await chmod(tmp, mode); // writeFile's mode is masked by the umask
  await rename(tmp, path);
}

async function readOptional(path: string): Promise<string | undefined> {
  return readFile(path, 'utf8').catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return undefined;
    throw e;
  });
}

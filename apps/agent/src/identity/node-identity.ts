import { createPrivateKey, X509Certificate } from 'node:crypto';
import { chmod, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { certificateCommonName } from '@berth/pki';

/**
 * The node's identity on disk, `<agent data dir>/pki/` (mode 0700):
 *   ca.pem    the cluster CA the agent trusts (0644)
 *   node.pem  its certificate, subject CN=node:<name> (0644)
 *   node.key  its private key (0600)
 */
export interface IdentityFiles {
  readonly dir: string;
  readonly caFile: string;
  readonly certFile: string;
  readonly keyFile: string;
}

/** The node's certificate, its key and the CA, PEM, with the certificate's validity. */
export interface NodeIdentity {
  readonly caPem: string;
  readonly certPem: string;
  readonly keyPem: string;
  readonly validFrom: Date;
  readonly validTo: Date;
}

/** What the data dir holds: a usable identity, or why a join (with a token) is needed. */
export type StoredIdentity = { readonly identity: NodeIdentity } | { readonly needsJoin: string };

/** The reason when no file is there at all (the node never joined). */
export const NEVER_JOINED = 'no certificate yet';

export function identityFiles(dataDir: string): IdentityFiles {
  const dir = join(dataDir, 'pki');
  return { dir, caFile: join(dir, 'ca.pem'), certFile: join(dir, 'node.pem'), keyFile: join(dir, 'node.key') };
}

/** The subject common name of node `name`'s certificate. */
export function nodeCommonName(name: string): string {
  return `node:${name}`;
}

/** The data dir belongs to another node: its certificate names that one. */
export class WrongNodeError extends Error {
  constructor(files: IdentityFiles, certName: string, name: string) {
    super(`${files.certFile} is the certificate of ${certName}, not node:${name}: this data directory belongs to that node (start it with --name matching, or use another --data-dir)`);
    this.name = 'WrongNodeError';
  }
}

/**
 * Builds an identity from PEM and checks it belongs together: the certificate is signed by the CA,
 * the key is the certificate's, and its subject is CN=node:<name>. Throws an Error saying what is wrong.
 */
export function identityOf(caPem: string, certPem: string, keyPem: string, name: string): NodeIdentity {
  const ca = new X509Certificate(caPem);
  const cert = new X509Certificate(certPem);
  const cn = certificateCommonName(cert);
  if (cn !== nodeCommonName(name)) throw new Error(`the certificate is for ${cn ?? 'no common name'}, not ${nodeCommonName(name)}`);
  if (!cert.checkIssued(ca) || !cert.verify(ca.publicKey)) throw new Error('the certificate is not signed by the cluster CA');
  if (!cert.checkPrivateKey(createPrivateKey(keyPem))) throw new Error('the private key is not the certificate\'s');
  return { caPem, certPem, keyPem, validFrom: new Date(cert.validFrom), validTo: new Date(cert.validTo) };
}

/**
 * The identity kept in `files`, when it can be used now by node `name`. Throws WrongNodeError when
 * the certificate names another node (the data dir is that node's), and on unreadable files.
 */
export async function loadIdentity(files: IdentityFiles, name: string, now: Date = new Date()): Promise<StoredIdentity> {
  const [caPem, certPem, keyPem] = await Promise.all([readOptional(files.caFile), readOptional(files.certFile), readOptional(files.keyFile)]);
  if (certPem !== undefined) {
    let cn: string | undefined;
    try {
      cn = certificateCommonName(new X509Certificate(certPem));
    } catch (e) {
      return { needsJoin: `${files.certFile} cannot be read as a certificate: ${message(e)}` };
    }
    if (cn !== nodeCommonName(name)) throw new WrongNodeError(files, cn ?? 'no node', name);
  }
  if (caPem === undefined && certPem === undefined && keyPem === undefined) return { needsJoin: NEVER_JOINED };
  const absent = [caPem === undefined && files.caFile, certPem === undefined && files.certFile, keyPem === undefined && files.keyFile].filter((f) => f !== false);
  if (caPem === undefined || certPem === undefined || keyPem === undefined) return { needsJoin: `${absent.join(' and ')} missing` };
  let identity: NodeIdentity;
  try {
    identity = identityOf(caPem, certPem, keyPem, name);
  } catch (e) {
    return { needsJoin: `${files.dir}: ${message(e)}` };
  }
  if (identity.validTo.getTime() <= now.getTime()) return { needsJoin: `${files.certFile} expired at ${identity.validTo.toISOString()}` };
  return { identity };
}

/**
 * Writes the identity: the directory 0700, the key 0600, the certificates 0644. Every file goes to
 * a temporary file first; then they are renamed into place, the key first, so a crash leaves at
 * worst a new key beside the old certificate for the briefest moment, never a half-written file.
 */
export async function saveIdentity(files: IdentityFiles, id: NodeIdentity): Promise<void> {
  await mkdir(files.dir, { recursive: true, mode: 0o700 });
  await chmod(files.dir, 0o700);
  const writes: [string, string, number][] = [
    [files.keyFile, id.keyPem, 0o600],
    [files.certFile, id.certPem, 0o644],
    [files.caFile, id.caPem, 0o644],
  ];
  const tmp = (path: string) => `${path}.${process.pid}.tmp`;
  try {
    for (const [path, text, mode] of writes) {
      await writeFile(tmp(path), text, { mode });
      await chmod(tmp(path), mode); // writeFile's mode is masked by the umask
    }
  } catch (e) {
    await Promise.all(writes.map(([path]) => rm(tmp(path), { force: true })));
    throw e;
  }
  for (const [path] of writes) await rename(tmp(path), path);
}

function readOptional(path: string): Promise<string | undefined> {
  return readFile(path, 'utf8').catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return undefined;
    throw e;
  });
}

export function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

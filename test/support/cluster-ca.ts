import { chmod, copyFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * What an operator does before starting a second control-plane replica of a cluster: copies the
 * cluster CA (DATA-DIR/pki/ca.pem and ca.key) from a replica's data dir into the new one's.
 */
export async function copyClusterCa(fromDataDir: string, toDataDir: string): Promise<void> {
  const to = join(toDataDir, 'pki');
  await mkdir(to, { recursive: true, mode: 0o700 });
  await chmod(to, 0o700);
  await copyFile(join(fromDataDir, 'pki', 'ca.pem'), join(to, 'ca.pem'));
  await copyFile(join(fromDataDir, 'pki', 'ca.key'), join(to, 'ca.key'));
  await chmod(join(to, 'ca.key'), 0o600);
}

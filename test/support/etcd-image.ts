import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { GenericContainer, Wait } from 'testcontainers';

/**
 * The etcd image the integration tests run: built locally (no registry is reachable) from the
 * distribution's etcd binary as a `FROM scratch` image holding the binary and the shared
 * libraries `ldd` lists. Built once; reused while it exists.
 */
export const ETCD_IMAGE = 'berth-test/etcd:3.4';

function imageExists(): boolean {
  try {
    execFileSync('docker', ['image', 'inspect', ETCD_IMAGE], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Absolute paths of the shared objects a binary loads (empty for a static binary). */
export function sharedLibraries(binary: string): string[] {
  let out: string;
  try {
    out = execFileSync('ldd', [binary], { encoding: 'utf8' });
  } catch {
    return []; // "not a dynamic executable"
  }
  const paths: string[] = [];
  for (const line of out.split('\n')) {
    const m = /(?:=>\s*)?(\/\S+)\s+\(0x/.exec(line);
    if (m) paths.push(m[1]!);
  }
  return paths;
}

export async function ensureEtcdImage(): Promise<string> {
  if (imageExists()) return ETCD_IMAGE;
  const binary = execFileSync('sh', ['-c', 'command -v etcd'], { encoding: 'utf8' }).trim();
  const ctx = mkdtempSync(join(tmpdir(), 'berth-etcd-image-'));
  try {
    const files = [binary, ...sharedLibraries(binary)];
    for (const file of files) {
      mkdirSync(join(ctx, 'root', dirname(file)), { recursive: true });
      copyFileSync(file, join(ctx, 'root', file));
    }
    mkdirSync(join(ctx, 'root', 'tmp'), { recursive: true });
    writeFileSync(join(ctx, 'Dockerfile'), `FROM scratch\nCOPY root/ /\nENTRYPOINT ["${binary}"]\n`);
    await GenericContainer.fromDockerfile(ctx).build(ETCD_IMAGE, { deleteOnExit: false });
  } finally {
    rmSync(ctx, { recursive: true, force: true });
  }
  return ETCD_IMAGE;
}

/** etcd logs this once it serves clients; the image has no shell, so waits read logs. */
export const etcdReady = () => Wait.forLogMessage(/ready to serve client requests/);

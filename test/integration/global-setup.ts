import { ensureDocker, releaseDocker } from '../support/docker';
import { ensureEtcdImage } from '../support/etcd-image';
import { missingTools } from '../support/prereq';

/**
 * vitest globalSetup for the integration project: a Docker engine and the locally built etcd
 * image, once per run. Teardown stops dockerd only when this setup started it and no other test
 * run still uses it. Without docker or etcd installed (or not root) it does nothing; the suites'
 * own `requireTools` then skip (or fail in CI).
 */
export default async function setup(): Promise<() => Promise<void>> {
  process.env.TESTCONTAINERS_RYUK_DISABLED = 'true';
  if (missingTools(['dockerd', 'docker', 'etcd']).length > 0 || process.getuid?.() !== 0) {
    return async () => undefined;
  }
  await ensureDocker();
  try {
    await ensureEtcdImage();
  } catch (e) {
    await releaseDocker();
    throw e;
  }
  return releaseDocker;
}

import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ImagePullError, ImageStore, type Image } from '@berth/runtime';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SkopeoImageResolver } from '../../../apps/control-plane/src/api/image-resolver';
import { requireTools } from '../../support/prereq';
import { buildBusyboxLayout } from './host';
import { startRegistry, type LocalRegistry } from './registry';

const exec = promisify(execFile);
const ready = requireTools(['skopeo', 'umoci', 'busybox', 'docker-registry'], { root: true });

/**
 * Pinning on a node, with real skopeo, umoci and a registry: the tag `busybox:1` is pushed with a
 * marker file saying "one", nodes pull it, then the same tag is pushed again saying "two".
 */
describe.runIf(ready)('ImageStore: pinned digests and pull policies', () => {
  let dir = '';
  let layout = ''; // oci:<dir>/src — tags "one" and "two": busybox with /marker
  let registry: LocalRegistry | undefined;
  const resolver = () => new SkopeoImageResolver();
  const ref = () => `${registry!.address}/busybox:1`;
  const store = (name: string, o: { skopeo?: string } = {}) => new ImageStore({ dir: join(dir, name), ...o });
  const marker = (img: Image) => readFile(join(img.rootfs, 'marker'), 'utf8');
  const push = (tag: string) => exec('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', `${layout}:${tag}`, `docker://${ref()}`]);

  /** The layout at `path` gets `tag` = busybox + /marker saying `text` (a new layer over src:1). */
  async function markedTag(path: string, tag: string, text: string): Promise<void> {
    const file = join(dir, `marker-${tag}`);
    await writeFile(file, text);
    await exec('umoci', ['insert', '--image', `${path}:1`, '--tag', tag, file, '/marker']);
  }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-pinned-'));
    const src = join(dir, 'src');
    await buildBusyboxLayout(src);
    await markedTag(src, 'one', 'one');
    await markedTag(src, 'two', 'two');
    layout = `oci:${src}`;
    registry = await startRegistry();
    await push('one');
  });

  afterAll(async () => {
    await registry?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('a pinned digest outlives a re-pushed tag; ifNotPresent keeps a node’s copy; always follows the tag', async () => {
    const first = await resolver().resolve(ref());
    const { stdout } = await exec('skopeo', ['inspect', '--tls-verify=false', '--format', '{{.Digest}}', `docker://${ref()}`]);
    expect(first).toBe(stdout.trim()); // sha256 of the raw manifest is the registry's own digest

    const early = { pinned: store('early-pinned'), cached: store('early-cached'), always: store('early-always') };
    expect(await marker(await early.pinned.pull(ref(), { digest: first }))).toBe('one');
    expect(await marker(await early.cached.pull(ref(), { policy: 'ifNotPresent' }))).toBe('one');
    expect(await marker(await early.always.pull(ref(), { policy: 'always' }))).toBe('one');

    await push('two');
    const second = await resolver().resolve(ref());
    expect(second).not.toBe(first);

    // A node that never had the image, pulling after the tag moved: still the pinned bits.
    expect(await marker(await store('late-pinned').pull(ref(), { digest: first }))).toBe('one');
    // Once a node has the digest it asks no registry: a store whose skopeo cannot run still has it.
    expect(await marker(await store('early-pinned', { skopeo: '/bin/false' }).pull(ref(), { digest: first }))).toBe('one');
    expect(await marker(await early.pinned.pull(ref(), { digest: second }))).toBe('two');

    expect(await marker(await early.cached.pull(ref(), { policy: 'ifNotPresent' }))).toBe('one');
    expect(await marker(await store('late-cached').pull(ref(), { policy: 'ifNotPresent' }))).toBe('two');
    expect(await marker(await early.always.pull(ref(), { policy: 'always' }))).toBe('two');
    // No policy and no digest (a service stored before pinning): a node's copy, as ifNotPresent.
    expect(await marker(await early.cached.pull(ref()))).toBe('one');
  });

  it('an oci: layout whose tag moved away from the pinned digest is refused, naming both digests', async () => {
    const local = join(dir, 'local');
    await cp(layout.slice('oci:'.length), local, { recursive: true });
    await markedTag(local, 'app', 'one');
    const ociRef = `oci:${local}:app`;
    const pinned = await resolver().resolve(ociRef);
    const node = store('oci');
    expect(await marker(await node.pull(ociRef, { digest: pinned }))).toBe('one');

    await markedTag(local, 'app', 'two'); // the tag now names another image
    const moved = await resolver().resolve(ociRef);
    const err = await store('oci-late').pull(ociRef, { digest: pinned }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ImagePullError);
    expect((err as Error).message).toBe(
      `pulling image "${ociRef}" failed: ${ociRef} now holds ${moved}, but the service pinned ${pinned} at apply; run berth rollout restart to move to it`,
    );
    // The node that copied it before keeps running what was pinned; the new pin works everywhere.
    expect(await marker(await node.pull(ociRef, { digest: pinned }))).toBe('one');
    expect(await marker(await store('oci-late').pull(ociRef, { digest: moved }))).toBe('two');
    // Unpinned, a local layout is read again at every pull.
    expect(await marker(await node.pull(ociRef, { policy: 'ifNotPresent' }))).toBe('two');
  });

  it('housekeeping removes unused pinned and always layouts with their root filesystems', async () => {
    const s = store('gc');
    const digest = await resolver().resolve(ref());
    const pinned = await s.pull(ref(), { digest });
    const always = await s.pull(ref(), { policy: 'always' });
    expect(await readdir(join(dir, 'gc', 'layouts'))).toHaveLength(2);
    expect(await s.removeUnused({ olderThanMs: 0, inUse: new Set([pinned.digest]) })).toEqual([]);
    expect(await s.removeUnused({ olderThanMs: 0, inUse: new Set() })).toEqual([always.digest]);
    expect(existsSync(pinned.rootfs)).toBe(false);
    expect(await readdir(join(dir, 'gc', 'layouts'))).toEqual([]);
  });
});

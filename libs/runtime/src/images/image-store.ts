import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readdir, rename, rm, stat, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import type { ImagePullPolicy } from '@berth/core';
import { runCommand } from '../command';
import { CommandFailedError, ImagePullError } from '../errors';
import { parseImageConfig, type ImageConfig } from './image-config';
import { isInsecureRegistry, parseImageRef, skopeoSource, type ImageRef } from './image-ref';
import { readImageConfigBlob, resolveLayoutTag } from './oci-layout';
import { copyShifted, SHIFTED_DIR, shiftedCopyDigest, shiftedRootfsDir } from './shifted-rootfs';
import type { IdRange } from '../user-namespace';

/** An image ready to run: its unpacked root filesystem and the config that says how. */
export interface Image {
  /** The reference as the task gave it. */
  readonly ref: string;
  /** Manifest digest (`sha256:…`): the identity the rootfs is unpacked under. */
  readonly digest: string;
  /** Read-only unpacked rootfs, shared by every task of this digest (overlay lowerdir). */
  readonly rootfs: string;
  readonly config: ImageConfig;
}

export interface ImageStoreOptions {
  /** Store directory, e.g. `<dataDir>/images`; must not contain ':' or ',' (overlayfs options). */
  readonly dir: string;
  /** `host:port` of registries reached over plain HTTP (no TLS verification); loopback ones always are. */
  readonly insecureRegistries?: readonly string[];
  readonly pullTimeoutMs?: number;
  readonly skopeo?: string;
  readonly umoci?: string;
}

/** What the task asks of its image besides the reference (TaskTemplate.imageDigest, imagePull). */
export interface PullOptions {
  /** The manifest digest the control plane pinned the reference to; used when there is no policy. */
  readonly digest?: string;
  /** Not pinned: `ifNotPresent` (also the default without a digest) or `always`. */
  readonly policy?: ImagePullPolicy;
}

/** skopeo's layout tag inside each per-reference layout of the store. */
const LAYOUT_TAG = 'image';

/** How one pull gets its image; see ImageStore. */
type PullMode = 'pinned' | 'ifNotPresent' | 'always';

/**
 * Node-local image cache: `skopeo copy` into `<dir>/layouts/<key>`, `umoci unpack` once per
 * manifest digest into `<dir>/rootfs/<hex>`. The key, and whether the registry is asked at all:
 *   pinned (a digest, no policy)  one layout per pinned digest. A registry image is copied by
 *       digest (`repo@sha256:…`) once; after that the node never asks the registry for it
 *       again. An `oci:` layout can only be copied by tag: the copy is refused unless the tag
 *       still names the pinned digest.
 *   ifNotPresent (also: no digest)  one layout per reference: a registry reference is pulled once
 *       per node; an `oci:` layout on the local disk is copied again on every pull.
 *   always  one layout per reference, copied again at every pull (skopeo skips blobs it has).
 * Concurrent pulls of one key, and unpacks of one digest, coalesce into one.
 *
 * User-namespaced tasks run on a copy of the rootfs owned by the node's id range
 * (`<dir>/rootfs-shifted/<hex>-<base>`, see shiftedRootfs); it is removed with its image.
 */
export class ImageStore {
  private readonly pulls = new Map<string, Promise<Image>>();
  private readonly unpacks = new Map<string, Promise<string>>();
  private readonly shifts = new Map<string, Promise<string>>();
  private pruning: Promise<unknown> | undefined;

  constructor(private readonly opts: ImageStoreOptions) {
    if (/[:,]/.test(opts.dir)) throw new ImagePullError(opts.dir, 'the image store path must not contain ":" or ","');
  }

  /**
   * Makes `ref` available locally, as `opts` ask (see the class). Throws ImagePullError with
   * skopeo's/the registry's message, or saying that an `oci:` tag moved away from the pinned digest.
   */
  async pull(ref: string, opts: PullOptions = {}): Promise<Image> {
    const parsed = parseImageRef(ref);
    const mode: PullMode = opts.policy ?? (opts.digest ? 'pinned' : 'ifNotPresent');
    const key = layoutKey(parsed, mode, opts.digest);
    if (this.pruning) await this.pruning.catch(() => undefined);
    return coalesced(this.pulls, key, () => this.fetch(ref, parsed, mode, key, opts.digest));
  }

  /**
   * The rootfs of `image` (pulled by this store) with every owner moved into `range`, for a task
   * in a user namespace of that range: built on first use (a full copy: the image's size on disk,
   * once per image and range), then shared by every such task of the image. Built in a temporary
   * directory and renamed into place, so no task ever sees half of it; concurrent calls coalesce
   * here, and a store in another process building the same copy at once loses the rename
   * harmlessly. Throws ImagePullError when the copy fails or the image holds a file whose owner
   * the range cannot hold.
   */
  async shiftedRootfs(image: Image, range: IdRange): Promise<string> {
    if (this.pruning) await this.pruning.catch(() => undefined);
    const target = shiftedRootfsDir(this.opts.dir, image.digest, range);
    return coalesced(this.shifts, target, () => this.shift(image, range, target));
  }

  private async shift(image: Image, range: IdRange, target: string): Promise<string> {
    if (await exists(target)) return target;
    const tmp = join(this.opts.dir, 'tmp', `shift-${image.digest.slice(7, 19)}-${randomBytes(4).toString('hex')}`);
    await mkdir(tmp, { recursive: true });
    await mkdir(join(this.opts.dir, SHIFTED_DIR), { recursive: true });
    try {
      await copyShifted(image.rootfs, join(tmp, 'rootfs'), range);
      await rename(join(tmp, 'rootfs'), target).catch(async (e: unknown) => {
        // Another store (another agent process on this data dir) published it first: use that one.
        if (!(await exists(target))) throw e;
      });
    } catch (e) {
      throw new ImagePullError(image.ref, `copying ${image.digest} for user namespace ${range.base}: ${e instanceof Error ? e.message : String(e)}`);
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
    return target;
  }

  /**
   * Housekeeping: removes images whose digest is not in `inUse` and that no pull has asked for
   * within `olderThanMs`. Returns the removed manifest digests. Waits for running pulls first.
   */
  async removeUnused(o: { readonly olderThanMs: number; readonly inUse: ReadonlySet<string>; readonly now?: Date }): Promise<string[]> {
    const run = (async () => {
      await Promise.allSettled([...this.pulls.values(), ...this.unpacks.values(), ...this.shifts.values()]);
      return this.prune(o.olderThanMs, o.inUse, o.now ?? new Date());
    })();
    this.pruning = run;
    try {
      return await run;
    } finally {
      if (this.pruning === run) this.pruning = undefined;
    }
  }

  private async fetch(ref: string, parsed: ImageRef, mode: PullMode, key: string, pinned: string | undefined): Promise<Image> {
    const layout = join(this.opts.dir, 'layouts', createHash('sha256').update(key).digest('hex').slice(0, 32));
    const had = await resolveLayoutTag(layout, LAYOUT_TAG);
    // A local oci: layout is cheap to read again, and without a pin its tag may have moved.
    const reuse = mode === 'pinned' || (mode === 'ifNotPresent' && parsed.transport === 'docker');
    let digest = reuse ? had : undefined;
    if (!digest) {
      const checkPin = mode === 'pinned' && parsed.transport === 'oci';
      if (checkPin) refuseUnpinned(ref, await resolveLayoutTag(parsed.path, parsed.tag), pinned!); // no copy that would be refused
      await this.copy(ref, pinnedSource(parsed, mode, pinned), parsed, layout);
      digest = await resolveLayoutTag(layout, LAYOUT_TAG);
      if (!digest) throw new ImagePullError(ref, `skopeo finished but ${layout} has no image tagged "${LAYOUT_TAG}"`);
      // The tag may have moved during the copy: what counts is what was copied.
      if (checkPin && digest !== pinned) {
        await rm(layout, { recursive: true, force: true });
        refuseUnpinned(ref, digest, pinned!);
      }
      // A copy over an older image leaves that image's blobs behind: drop what nothing references.
      if (had && had !== digest) await runCommand(this.opts.umoci ?? 'umoci', ['gc', '--layout', layout], { timeoutMs: 60_000 }).catch(() => undefined);
    }
    const rootfs = await this.unpackOnce(ref, layout, digest);
    const config = parseImageConfig(await readImageConfigBlob(layout, digest));
    const now = new Date();
    await utimes(rootfs, now, now);
    return { ref, digest, rootfs, config };
  }

  private async copy(ref: string, source: string, parsed: ImageRef, layout: string): Promise<void> {
    await mkdir(join(this.opts.dir, 'layouts'), { recursive: true });
    const insecure = parsed.transport === 'docker' && isInsecureRegistry(parsed.registry, this.opts.insecureRegistries ?? []);
    const args = ['copy', '--quiet', ...(insecure ? ['--src-tls-verify=false'] : []), source, `oci:${layout}:${LAYOUT_TAG}`];
    try {
      await runCommand(this.opts.skopeo ?? 'skopeo', args, { timeoutMs: this.opts.pullTimeoutMs ?? 600_000 });
    } catch (e) {
      throw new ImagePullError(ref, e instanceof CommandFailedError ? e.detail : String(e));
    }
  }

  private unpackOnce(ref: string, layout: string, digest: string): Promise<string> {
    return coalesced(this.unpacks, digest, () => this.unpack(ref, layout, digest));
  }

  private async unpack(ref: string, layout: string, digest: string): Promise<string> {
    const target = join(this.opts.dir, 'rootfs', digest.slice('sha256:'.length));
    if (await exists(target)) return target;
    const tmp = join(this.opts.dir, 'tmp', `${digest.slice(7, 19)}-${randomBytes(4).toString('hex')}`);
    await mkdir(join(this.opts.dir, 'tmp'), { recursive: true });
    await mkdir(join(this.opts.dir, 'rootfs'), { recursive: true });
    try {
      await runCommand(this.opts.umoci ?? 'umoci', ['unpack', '--image', `${layout}:${LAYOUT_TAG}`, tmp], { timeoutMs: 600_000 });
      // The rename publishes the rootfs atomically: a half-unpacked tree is never visible. A store
      // in another process that published it first wins; its copy is the same.
      await rename(join(tmp, 'rootfs'), target).catch(async (e: unknown) => {
        if (!(await exists(target))) throw e;
      });
    } catch (e) {
      throw new ImagePullError(ref, `unpacking ${digest} failed: ${e instanceof Error ? e.message : String(e)}`);
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
    return target;
  }

  private async prune(olderThanMs: number, inUse: ReadonlySet<string>, now: Date): Promise<string[]> {
    const rootfsDir = join(this.opts.dir, 'rootfs');
    const removed: string[] = [];
    for (const hex of await list(rootfsDir)) {
      const digest = `sha256:${hex}`;
      if (inUse.has(digest)) continue;
      const info = await stat(join(rootfsDir, hex));
      if (now.getTime() - info.mtimeMs < olderThanMs) continue;
      await rm(join(rootfsDir, hex), { recursive: true, force: true });
      removed.push(digest);
    }
    // A shifted copy goes with its image (also one left by a digest removed before it was built).
    const shiftedDir = join(this.opts.dir, SHIFTED_DIR);
    for (const name of await list(shiftedDir)) {
      const digest = shiftedCopyDigest(name);
      if (digest && !(await exists(join(rootfsDir, digest.slice(7))))) await rm(join(shiftedDir, name), { recursive: true, force: true });
    }
    const layoutsDir = join(this.opts.dir, 'layouts');
    for (const key of await list(layoutsDir)) {
      const digest = await resolveLayoutTag(join(layoutsDir, key), LAYOUT_TAG);
      if (!digest || removed.includes(digest)) await rm(join(layoutsDir, key), { recursive: true, force: true });
    }
    return removed;
  }
}

/** What a pull's layout is keyed by: the pinned digest, or the reference (per policy). */
function layoutKey(parsed: ImageRef, mode: PullMode, pinned: string | undefined): string {
  if (mode === 'always') return `always:${parsed.canonical}`;
  if (mode === 'ifNotPresent') return parsed.canonical;
  return parsed.transport === 'docker' ? `${parsed.registry}/${parsed.repository}@${pinned}` : `${parsed.canonical}@${pinned}`;
}

/** skopeo's source: a pinned registry image by its digest, anything else as written. */
function pinnedSource(parsed: ImageRef, mode: PullMode, pinned: string | undefined): string {
  return mode === 'pinned' && parsed.transport === 'docker' ? `docker://${parsed.registry}/${parsed.repository}@${pinned}` : skopeoSource(parsed);
}

/**
 * An `oci:` layout has no by-digest access: its tag is copied, and the copy is refused unless the
 * tag (before the copy) and the copy itself name the pinned digest.
 */
function refuseUnpinned(ref: string, holds: string | undefined, pinned: string): void {
  if (holds === pinned) return;
  const now = holds ? `now holds ${holds}` : 'holds no such image now';
  throw new ImagePullError(ref, `${ref} ${now}, but the service pinned ${pinned} at apply; run berth rollout restart to move to it`);
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

async function list(dir: string): Promise<string[]> {
  return readdir(dir).catch(() => []);
}

/** The work in flight for `key`, or `start()` put in flight for it until it settles: callers asking at once share one run. */
function coalesced<T>(inFlight: Map<string, Promise<T>>, key: string, start: () => Promise<T>): Promise<T> {
  let pending = inFlight.get(key);
  if (!pending) {
    pending = start().finally(() => inFlight.delete(key));
    inFlight.set(key, pending);
  }
  return pending;
}

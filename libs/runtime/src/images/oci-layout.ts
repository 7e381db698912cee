import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ImagePullError } from '../errors';

const REF_NAME = 'org.opencontainers.image.ref.name';
const DIGEST = /^sha256:[a-f0-9]{64}$/;

interface Descriptor {
  readonly mediaType?: string;
  readonly digest: string;
  readonly annotations?: Record<string, string>;
}

/**
 * The manifest digest `tag` points at in the OCI layout at `dir`, or undefined when the layout
 * or the tag does not exist. Without a tag, a layout holding exactly one image answers with it.
 */
export async function resolveLayoutTag(dir: string, tag: string | undefined): Promise<string | undefined> {
  let index: { manifests?: Descriptor[] };
  try {
    index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as { manifests?: Descriptor[] };
  } catch {
    return undefined;
  }
  const manifests = index.manifests ?? [];
  const match =
    tag === undefined ? (manifests.length === 1 ? manifests[0] : undefined) : manifests.find((m) => m.annotations?.[REF_NAME] === tag);
  return match && DIGEST.test(match.digest) ? match.digest : undefined;
}

/** Reads a blob of the layout as JSON. */
export async function readLayoutBlob(dir: string, digest: string): Promise<unknown> {
  if (!DIGEST.test(digest)) throw new ImagePullError(dir, `invalid blob digest "${digest}"`);
  return JSON.parse(await readFile(join(dir, 'blobs', 'sha256', digest.slice('sha256:'.length)), 'utf8')) as unknown;
}

/** The image config blob (Entrypoint, Cmd, Env …) of the manifest `digest` in the layout. */
export async function readImageConfigBlob(dir: string, manifestDigest: string): Promise<unknown> {
  const manifest = (await readLayoutBlob(dir, manifestDigest)) as { config?: Descriptor; manifests?: unknown };
  if (!manifest.config) {
    throw new ImagePullError(dir, `manifest ${manifestDigest} is an image index, not a single-platform image`);
  }
  return readLayoutBlob(dir, manifest.config.digest);
}

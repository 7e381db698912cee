import { InvalidImageRefError } from '../errors';

/** An image reference, parsed once so every later step knows where the image comes from. */
export type ImageRef =
  | {
      readonly transport: 'docker';
      /** Registry host[:port], `docker.io` for short names. */
      readonly registry: string;
      readonly repository: string;
      readonly tag?: string;
      readonly digest?: string;
      /** Canonical form, e.g. `127.0.0.1:5000/busybox:1`; the key pulls coalesce on. */
      readonly canonical: string;
    }
  | {
      readonly transport: 'oci';
      /** Absolute path of an OCI image layout directory. */
      readonly path: string;
      readonly tag?: string;
      readonly canonical: string;
    };

const DIGEST = /^sha256:[a-f0-9]{64}$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const REPO = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/;

/**
 * Parses `HOST[:PORT]/repo[:tag]`, `HOST[:PORT]/repo@sha256:…`, short Docker Hub names
 * (`busybox:1`), or `oci:/abs/layout[:tag]`. Throws InvalidImageRefError with the accepted forms.
 */
export function parseImageRef(input: string): ImageRef {
  const ref = input.trim();
  if (ref.startsWith('oci:')) return parseOciRef(input, ref.slice(4));
  let rest = ref;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) throw new InvalidImageRefError(input, `"${digest}" is not a sha256 digest`);
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) throw new InvalidImageRefError(input, `"${tag}" is not a valid tag`);
  }
  const slash = rest.indexOf('/');
  const first = slash < 0 ? '' : rest.slice(0, slash);
  const hasHost = first.includes('.') || first.includes(':') || first === 'localhost';
  const registry = hasHost ? first : 'docker.io';
  let repository = hasHost ? rest.slice(slash + 1) : rest;
  if (!hasHost && !repository.includes('/')) repository = `library/${repository}`;
  if (!REPO.test(repository)) {
    throw new InvalidImageRefError(input, 'expected HOST[:PORT]/repo:tag, HOST[:PORT]/repo@sha256:…, or oci:/abs/path:tag');
  }
  if (!tag && !digest) tag = 'latest';
  const canonical = `${registry}/${repository}${tag ? `:${tag}` : ''}${digest ? `@${digest}` : ''}`;
  return { transport: 'docker', registry, repository, tag, digest, canonical };
}

function parseOciRef(input: string, body: string): ImageRef {
  const colon = body.lastIndexOf(':');
  const path = colon > body.lastIndexOf('/') ? body.slice(0, colon) : body;
  const tag = colon > body.lastIndexOf('/') ? body.slice(colon + 1) : undefined;
  if (!path.startsWith('/')) throw new InvalidImageRefError(input, 'an oci: layout path must be absolute (oci:/abs/path:tag)');
  if (tag !== undefined && !TAG.test(tag)) throw new InvalidImageRefError(input, `"${tag}" is not a valid tag`);
  return { transport: 'oci', path, tag, canonical: `oci:${path}${tag ? `:${tag}` : ''}` };
}

/** The source argument for `skopeo copy`. */
export function skopeoSource(ref: ImageRef): string {
  return ref.transport === 'oci' ? ref.canonical : `docker://${ref.canonical}`;
}

/**
 * Whether pulls from `registry` (`host[:port]`) go over plain HTTP: the ones the operator listed,
 * and — as Docker does — any registry on a loopback address, which never leaves the machine.
 */
export function isInsecureRegistry(registry: string, listed: readonly string[]): boolean {
  if (listed.includes(registry)) return true;
  const host = registry.startsWith('[') ? registry.slice(1, registry.indexOf(']')) : registry.split(':')[0]!;
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

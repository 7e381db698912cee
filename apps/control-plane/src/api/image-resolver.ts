import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { DomainError } from '@berth/core';
import { isInsecureRegistry, parseImageRef, resolveLayoutTag, toolMessage } from '@berth/runtime';

/**
 * Resolves an image reference to the manifest digest it names now: what apply and `rollout
 * restart` pin a template to (TaskTemplate.imageDigest), so every node runs the same bits.
 */
export interface ImageResolver {
  /**
   * `sha256:<64 hex>` for `ref`. A reference written with `@sha256:…` is its own answer. Rejects
   * with ImageResolveError (registry unreachable, unknown tag, missing layout, deadline passed).
   */
  resolve(ref: string): Promise<string>;
}

/** `ref` could not be resolved from the control plane; `reason` is the registry's or skopeo's word. */
export class ImageResolveError extends DomainError {
  readonly code = 'UNAVAILABLE';
  constructor(
    readonly ref: string,
    readonly reason: string,
  ) {
    super(`could not resolve ${ref} to a digest (${reason})`);
  }
}

/**
 * The digest of a manifest as the registry serves it: sha256 of its exact bytes. Pulling
 * `repo@<this>` fetches exactly this manifest, be it an image or an index.
 */
export function manifestDigest(raw: Uint8Array): string {
  return `sha256:${createHash('sha256').update(raw).digest('hex')}`;
}

export interface SkopeoResolverOptions {
  /** `host:port` of registries reached over plain HTTP (as the agents' `--insecure-registry`); loopback ones always are. */
  readonly insecureRegistries?: readonly string[];
  /** Deadline of one resolution (default 10 s): apply waits for it. */
  readonly timeoutMs?: number;
  readonly skopeo?: string;
}

export const DEFAULT_RESOLVE_TIMEOUT_MS = 10_000;

/**
 * Registry references: `skopeo inspect --raw docker://REF`, hashed. `oci:` layouts: the manifest
 * the tag names in the layout's index.json, read from the control plane's own disk.
 */
export class SkopeoImageResolver implements ImageResolver {
  constructor(private readonly opts: SkopeoResolverOptions = {}) {}

  async resolve(ref: string): Promise<string> {
    let parsed;
    try {
      parsed = parseImageRef(ref);
    } catch (e) {
      throw new ImageResolveError(ref, e instanceof Error ? e.message : String(e));
    }
    if (parsed.transport === 'oci') {
      const digest = await resolveLayoutTag(parsed.path, parsed.tag);
      if (!digest) throw new ImageResolveError(ref, `no image ${parsed.tag ? `tagged "${parsed.tag}" ` : ''}in the layout ${parsed.path} on the control plane's host`);
      return digest;
    }
    if (parsed.digest) return parsed.digest;
    const insecure = isInsecureRegistry(parsed.registry, this.opts.insecureRegistries ?? []);
    const raw = await this.inspectRaw(ref, ['inspect', '--raw', ...(insecure ? ['--tls-verify=false'] : []), `docker://${parsed.canonical}`]);
    return manifestDigest(raw);
  }

  private inspectRaw(ref: string, args: string[]): Promise<Buffer> {
    const file = this.opts.skopeo ?? 'skopeo';
    const timeoutMs = this.opts.timeoutMs ?? DEFAULT_RESOLVE_TIMEOUT_MS;
    return new Promise((resolve, reject) => {
      // Bytes, not text: the digest is of the manifest exactly as the registry served it.
      execFile(file, args, { encoding: 'buffer', timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
        if (!error) return resolve(stdout);
        const err = error as NodeJS.ErrnoException & { killed?: boolean };
        const reason =
          err.code === 'ENOENT' ? `${file} is not installed on the control plane's host` : err.killed ? `no answer within ${timeoutMs / 1000}s` : skopeoReason(toolMessage(stderr.toString('utf8'))) || err.message;
        reject(new ImageResolveError(ref, reason));
      });
    });
  }
}

/** For a control plane that pins nothing (tests): every reference is unresolvable, with that reason. */
export const NO_IMAGE_RESOLVER: ImageResolver = {
  resolve: (ref) => Promise.reject(new ImageResolveError(ref, 'this control plane resolves no images')),
};

/** skopeo's message without its generic prefix: `Error parsing image name "docker://…": pinging …` → `pinging …`. */
export function skopeoReason(message: string): string {
  return message.replace(/^Error parsing image name "[^"]*": /, '');
}

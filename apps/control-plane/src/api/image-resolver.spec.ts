import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImageResolveError, manifestDigest, NO_IMAGE_RESOLVER, SkopeoImageResolver, skopeoReason } from './image-resolver';

const digest = (c: string) => `sha256:${c.repeat(64)}`;

describe('manifestDigest', () => {
  it('is the sha256 of the exact bytes the registry served', () => {
    const raw = Buffer.from('{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"}');
    expect(manifestDigest(raw)).toBe(`sha256:${createHash('sha256').update(raw).digest('hex')}`);
    // The same JSON spelled with other whitespace is another manifest.
    expect(manifestDigest(Buffer.from('{ "schemaVersion": 2 }'))).not.toBe(manifestDigest(Buffer.from('{"schemaVersion":2}')));
  });
});

describe('SkopeoImageResolver', () => {
  let dir = '';
  // No skopeo at all: whatever resolves here needed none.
  const resolver = () => new SkopeoImageResolver({ skopeo: '/nonexistent/skopeo' });

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-resolver-'));
    const index = {
      schemaVersion: 2,
      manifests: [
        { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: digest('1'), size: 1, annotations: { 'org.opencontainers.image.ref.name': '1' } },
        { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: digest('2'), size: 1, annotations: { 'org.opencontainers.image.ref.name': '2' } },
      ],
    };
    await writeFile(join(dir, 'index.json'), JSON.stringify(index));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('answers a reference written with its digest without asking anyone', async () => {
    await expect(resolver().resolve(`127.0.0.1:5999/busybox@${digest('a')}`)).resolves.toBe(digest('a'));
    await expect(resolver().resolve(`127.0.0.1:5999/busybox:1@${digest('b')}`)).resolves.toBe(digest('b'));
  });

  it("reads an oci: layout's tag from its index.json", async () => {
    await expect(resolver().resolve(`oci:${dir}:2`)).resolves.toBe(digest('2'));
    const missing = await resolver().resolve(`oci:${dir}:3`).catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(ImageResolveError);
    expect((missing as Error).message).toBe(`could not resolve oci:${dir}:3 to a digest (no image tagged "3" in the layout ${dir} on the control plane's host)`);
  });

  it('says so when skopeo is missing, and explains a bad reference', async () => {
    await expect(resolver().resolve('127.0.0.1:5999/busybox:1')).rejects.toThrow(/\(\/nonexistent\/skopeo is not installed on the control plane's host\)$/);
    await expect(resolver().resolve('127.0.0.1:5999/Busybox:1')).rejects.toBeInstanceOf(ImageResolveError);
    await expect(NO_IMAGE_RESOLVER.resolve('x/y:1')).rejects.toMatchObject({ reason: 'this control plane resolves no images' });
  });
});

describe('skopeoReason', () => {
  it('drops skopeo\'s generic prefix and keeps what went wrong', () => {
    const raw = 'Error parsing image name "docker://127.0.0.1:5000/busybox:1": pinging container registry 127.0.0.1:5000: Get "http://127.0.0.1:5000/v2/": dial tcp 127.0.0.1:5000: connect: connection refused';
    expect(skopeoReason(raw)).toBe('pinging container registry 127.0.0.1:5000: Get "http://127.0.0.1:5000/v2/": dial tcp 127.0.0.1:5000: connect: connection refused');
    expect(skopeoReason('manifest unknown')).toBe('manifest unknown');
  });
});

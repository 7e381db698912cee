import { describe, expect, it } from 'vitest';
import type { ServiceDraft, TaskTemplate } from '@berth/core';
import { serviceFixture, specFixture } from '../testing/fixtures';
import { pinImages, planPin, unresolvedWarning, withDigest } from './image-pinning';
import { ImageResolveError, type ImageResolver } from './image-resolver';

const [A, B] = [`sha256:${'a'.repeat(64)}`, `sha256:${'b'.repeat(64)}`];
const IMAGE = '127.0.0.1:5000/busybox:1';
const template = (over: Partial<TaskTemplate> = {}): TaskTemplate => ({ ...specFixture().template, ...over });
const draft = (name: string, over: Partial<TaskTemplate> = {}): ServiceDraft => ({ name, labels: {}, spec: specFixture({ template: template(over) }) });
const stored = (name: string, over: Partial<TaskTemplate> = {}) => serviceFixture(name, { spec: { template: template(over) } });

/** Answers from a table; counts the questions. */
function fakeResolver(answers: Record<string, string>): ImageResolver & { asked: string[] } {
  const asked: string[] = [];
  return {
    asked,
    resolve: (ref) => {
      asked.push(ref);
      const d = answers[ref];
      return d ? Promise.resolve(d) : Promise.reject(new ImageResolveError(ref, 'connection refused'));
    },
  };
}

describe('planPin', () => {
  it('keeps the stored digest while the image reference stays the same', () => {
    expect(planPin(template(), template({ imageDigest: A }))).toEqual({ kind: 'keep', digest: A });
    expect(planPin(template({ env: { A: '1' } }), template({ imageDigest: A }))).toEqual({ kind: 'keep', digest: A });
  });

  it('resolves a new service, a changed image, and a stored service that is not pinned', () => {
    expect(planPin(template(), undefined)).toEqual({ kind: 'resolve' });
    expect(planPin(template({ image: '127.0.0.1:5000/busybox:2' }), template({ imageDigest: A }))).toEqual({ kind: 'resolve' });
    expect(planPin(template(), template())).toEqual({ kind: 'resolve' });
  });

  it('has nothing to pin for a vm.disk VM, which names no image', () => {
    const { image: _none, ...disk } = template({ runtime: 'vm', vm: { vcpus: 1, kernel: '/boot/vmlinuz-6.1.0-57-amd64', disk: '/img/d.qcow2' } });
    expect(planPin(disk, undefined)).toEqual({ kind: 'none' });
  });

  it('pins nothing under an imagePull policy', () => {
    expect(planPin(template({ imagePull: 'always' }), template({ imageDigest: A }))).toEqual({ kind: 'unpinned' });
    expect(planPin(template({ imagePull: 'ifNotPresent' }), undefined)).toEqual({ kind: 'unpinned' });
  });
});

describe('pinImages', () => {
  it('pins new services, keeps stored pins without asking, and resolves each reference once', async () => {
    const resolver = fakeResolver({ [IMAGE]: B, 'oci:/srv/img:1': A });
    const out = await pinImages(
      [draft('web'), draft('api'), draft('old'), draft('local', { image: 'oci:/srv/img:1' })],
      [undefined, undefined, stored('old', { imageDigest: A }), undefined],
      resolver,
    );
    expect(out.drafts.map((d) => d.spec.template.imageDigest)).toEqual([B, B, A, A]);
    expect(out.warnings).toEqual([]);
    expect(resolver.asked.sort()).toEqual([IMAGE, 'oci:/srv/img:1']);
  });

  it('accepts an image it cannot resolve without a digest, with a warning naming the service, the image and why', async () => {
    const unreachable = '127.0.0.1:5999/busybox:1';
    const out = await pinImages([draft('web', { image: unreachable }), draft('job', { imagePull: 'always', imageDigest: A })], [undefined, stored('job', { imageDigest: B })], fakeResolver({}));
    expect(out.drafts.map((d) => d.spec.template)).toEqual([template({ image: unreachable }), template({ imagePull: 'always' })]);
    expect(out.warnings).toEqual([
      'web: could not resolve 127.0.0.1:5999/busybox:1 to a digest (connection refused); every node pulls the tag itself, so nodes may run different images',
    ]);
  });

  it('formats the warning and sets or drops a digest', () => {
    expect(unresolvedWarning('web', 'r/x:1', 'manifest unknown')).toBe(
      'web: could not resolve r/x:1 to a digest (manifest unknown); every node pulls the tag itself, so nodes may run different images',
    );
    expect(withDigest(template({ imageDigest: A }), B)).toEqual(template({ imageDigest: B }));
    expect(withDigest(template({ imageDigest: A }), undefined)).toEqual(template());
  });
});

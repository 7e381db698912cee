import { describe, expect, it } from 'vitest';
import { imageProblem } from './image-ref';
import { closest } from './unknown-fields';

describe('imageProblem', () => {
  it.each([
    '127.0.0.1:5000/busybox:1',
    'localhost/busybox',
    'registry.example.com/team/app:v1.2.3',
    'registry.example.com:443/app@sha256:' + 'f'.repeat(64),
    'busybox:1.36',
    'library/busybox:latest',
    'busybox@sha256:' + '0'.repeat(64),
    '[::1]:5000/busybox:1',
    'oci:/srv/images/busybox',
    'oci:/srv/images/busybox:1',
  ])('accepts %s', (ref) => {
    expect(imageProblem(ref)).toBeUndefined();
  });

  it.each([
    ['', /must not be empty/],
    ['busybox', /no registry host, tag or digest/],
    ['Busybox:1', /not an image reference/],
    ['127.0.0.1:5000/busybox:', /not an image reference/],
    ['127.0.0.1:5000/busybox:1@sha256:abc', /malformed digest/],
    ['a@b@c', /malformed digest/],
    ['bad_host.:5000/x:1', /not a registry host/],
    ['oci:relative/path', /oci:\/abs\/path/],
    ['oci:/srv/../etc:1', /oci:\/abs\/path/],
    ['oci:/srv/images:bad tag', /not an OCI layout reference/],
  ])('refuses %j', (ref, why) => {
    expect(imageProblem(ref)).toMatch(why);
  });
});

describe('closest', () => {
  const known = ['replicas', 'mode', 'template', 'restartPolicy', 'update', 'placement'];
  it.each([
    ['replica', 'replicas'],
    ['Replicas', 'replicas'],
    ['templaet', 'template'],
    ['restartpolicy', 'restartPolicy'],
    ['placment', 'placement'],
  ])('suggests %s → %s', (typo, want) => {
    expect(closest(typo, known)).toBe(want);
  });

  it.each(['x', 'containers', 'image'])('suggests nothing for %s', (key) => {
    expect(closest(key, known)).toBeUndefined();
  });
});

import { describe, expect, it } from 'vitest';
import { InvalidImageRefError } from '../errors';
import { isInsecureRegistry, parseImageRef, skopeoSource } from './image-ref';

const digest = `sha256:${'ab'.repeat(32)}`;

describe('parseImageRef', () => {
  it('reads registry references with host, port, tag and digest', () => {
    expect(parseImageRef('127.0.0.1:5000/busybox:1')).toMatchObject({ transport: 'docker', registry: '127.0.0.1:5000', repository: 'busybox', tag: '1' });
    expect(parseImageRef('registry.example.com/team/app')).toMatchObject({ registry: 'registry.example.com', repository: 'team/app', tag: 'latest' });
    expect(parseImageRef(`localhost:5000/app@${digest}`)).toMatchObject({ registry: 'localhost:5000', digest, tag: undefined });
    expect(parseImageRef('busybox:1.36').canonical).toBe('docker.io/library/busybox:1.36');
  });

  it('reads oci: layouts with and without a tag', () => {
    expect(parseImageRef('oci:/srv/images/busybox:1')).toEqual({ transport: 'oci', path: '/srv/images/busybox', tag: '1', canonical: 'oci:/srv/images/busybox:1' });
    expect(parseImageRef('oci:/srv/images/busybox')).toMatchObject({ path: '/srv/images/busybox', tag: undefined });
    expect(skopeoSource(parseImageRef('oci:/srv/x:2'))).toBe('oci:/srv/x:2');
    expect(skopeoSource(parseImageRef('127.0.0.1:5000/x:2'))).toBe('docker://127.0.0.1:5000/x:2');
  });

  it('explains what is wrong with a bad reference', () => {
    expect(() => parseImageRef('oci:relative/path:1')).toThrow(/must be absolute/);
    expect(() => parseImageRef('host:5000/app@sha256:short')).toThrow(/not a sha256 digest/);
    expect(() => parseImageRef('host:5000/UPPER:1')).toThrow(InvalidImageRefError);
    expect(() => parseImageRef('host:5000/app:bad tag')).toThrow(/not a valid tag/);
  });
});

describe('isInsecureRegistry', () => {
  it('uses plain HTTP for listed registries and for loopback ones, TLS for the rest', () => {
    expect(isInsecureRegistry('10.0.0.5:5000', ['10.0.0.5:5000'])).toBe(true);
    expect(isInsecureRegistry('127.0.0.1:5000', [])).toBe(true);
    expect(isInsecureRegistry('127.3.2.1', [])).toBe(true);
    expect(isInsecureRegistry('localhost:5000', [])).toBe(true);
    expect(isInsecureRegistry('[::1]:5000', [])).toBe(true);
    expect(isInsecureRegistry('10.0.0.5:5000', ['10.0.0.6:5000'])).toBe(false);
    expect(isInsecureRegistry('registry.example.com', [])).toBe(false);
    expect(isInsecureRegistry('127.0.0.1.example.com:5000', [])).toBe(false);
  });
});

import { describe, expect, it } from 'vitest';
import { TaskSpecError } from './errors';
import { shiftedCopyDigest, shiftedRootfsDir } from './images/shifted-rootfs';
import { checkMappable, DEFAULT_USER_NAMESPACE_BASE, hostId, idMappings, nodeIdRange } from './user-namespace';

describe('user namespace id range', () => {
  it('defaults to 0x70000000: past useradd’s subordinate ids and systemd-nspawn’s ranges, below 2^31', () => {
    const range = nodeIdRange();
    expect(range).toEqual({ base: DEFAULT_USER_NAMESPACE_BASE, size: 65536 });
    expect(range.base).toBeGreaterThan(600_100_000 + 65536); // SUB_UID_MAX in Debian's login.defs
    expect(range.base).toBeGreaterThan(1_879_048_191); // the last id systemd-nspawn picks
    expect(range.base + range.size).toBeLessThanOrEqual(2 ** 31);
    expect(idMappings(range)).toEqual([{ containerID: 0, hostID: 1_879_048_192, size: 65536 }]);
  });

  it('takes another base only at a 65536 boundary, clear of the ids inside, below 2^31', () => {
    expect(nodeIdRange(100 * 65536)).toEqual({ base: 6_553_600, size: 65536 });
    for (const bad of [0, 1000, 65536 + 1, 2 ** 31, -65536, 1.5]) expect(() => nodeIdRange(bad)).toThrow(TaskSpecError);
  });

  it('maps ids 0 … 65535 and no others', () => {
    const range = nodeIdRange(65536 * 2);
    expect(hostId(range, 0)).toBe(131072);
    expect(hostId(range, 65535)).toBe(131072 + 65535);
    expect(hostId(range, 65536)).toBeUndefined();
    expect(hostId(range, -1)).toBeUndefined();
    expect(() => checkMappable('web.1.a', range, { uid: 1000, gid: 1000 })).not.toThrow();
    expect(() => checkMappable('web.1.a', range, { uid: 70000, gid: 0 })).toThrow(/^task web\.1\.a: uid 70000 does not exist in a user namespace \(ids 0 – 65535\)/);
    expect(() => checkMappable('web.1.a', range, { uid: 0, gid: 65536 })).toThrow(/gid 65536 does not exist/);
  });
});

describe('shifted rootfs copies', () => {
  const digest = `sha256:${'ab'.repeat(32)}`;

  it('are keyed by image digest and range base, below the image store', () => {
    const dir = shiftedRootfsDir('/var/lib/berth/agent/images', digest, nodeIdRange());
    expect(dir).toBe(`/var/lib/berth/agent/images/rootfs-shifted/${'ab'.repeat(32)}-1879048192`);
    expect(shiftedRootfsDir('/i', digest, nodeIdRange(65536))).not.toBe(shiftedRootfsDir('/i', digest, nodeIdRange(131072)));
    expect(() => shiftedRootfsDir('/i', 'sha256:../../etc', nodeIdRange())).toThrow(/not a sha256 digest/);
  });

  it('name the digest they belong to, so the store removes them with it', () => {
    expect(shiftedCopyDigest(`${'ab'.repeat(32)}-1879048192`)).toBe(digest);
    expect(shiftedCopyDigest('tmp-123')).toBeUndefined();
    expect(shiftedCopyDigest(`${'ab'.repeat(32)}`)).toBeUndefined();
  });
});

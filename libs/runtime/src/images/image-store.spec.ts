import { describe, expect, it } from 'vitest';
import { ImagePullError } from '../errors';
import { toolMessage } from '../command';
import { ImageStore } from './image-store';

describe('ImageStore', () => {
  it("keeps skopeo's own message and drops the log decoration", () => {
    const stderr =
      'time="2026-11-25T06:02:55Z" level=fatal msg="initializing source docker://127.0.0.1:5000/nope:1: reading manifest 1 in 127.0.0.1:5000/nope: manifest unknown: manifest unknown"\n';
    expect(toolMessage(stderr)).toBe('initializing source docker://127.0.0.1:5000/nope:1: reading manifest 1 in 127.0.0.1:5000/nope: manifest unknown: manifest unknown');
    expect(toolMessage('msg="a \\"quoted\\" word"')).toBe('a "quoted" word');
    expect(toolMessage('  plain failure\n')).toBe('plain failure');
  });

  it('refuses a store path overlayfs could not use as a lower directory', () => {
    expect(() => new ImageStore({ dir: '/var/lib/berth:x/images' })).toThrow(ImagePullError);
  });
});

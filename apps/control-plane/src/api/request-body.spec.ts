import { describe, expect, it } from 'vitest';
import { ValidationError } from '@berth/core';
import { readLabelChange, readManifestInput } from './request-body';

const issuesOf = (run: () => unknown) => {
  try {
    run();
  } catch (e) {
    if (e instanceof ValidationError) return e.issues;
    throw e;
  }
  throw new Error('accepted');
};

describe('request bodies are bounded before they are looked at', () => {
  it('refuses more than 1000 sources in one apply', () => {
    const sources = Array.from({ length: 1001 }, (_, i) => ({ file: `f${i}.yaml`, text: '' }));
    expect(issuesOf(() => readManifestInput({ sources }))).toEqual([{ path: 'sources', message: 'has 1001 files; one apply may send at most 1000' }]);
    expect(readManifestInput({ sources: sources.slice(0, 1000) }).kind).toBe('sources');
  });

  it('refuses more than 64 label changes at once, without checking each', () => {
    const set = Object.fromEntries(Array.from({ length: 100_000 }, (_, i) => [`-bad${i}`, 'x']));
    expect(issuesOf(() => readLabelChange({ set }))).toEqual([{ path: '', message: 'has 100000 label changes; at most 64 at once (a node, like a service, has at most 64 labels)' }]);
    expect(readLabelChange({ set: { zone: 'a' }, remove: ['rack'] })).toEqual({ set: { zone: 'a' }, remove: ['rack'] });
  });
});

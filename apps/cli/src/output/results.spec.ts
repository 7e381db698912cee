import { describe, expect, it } from 'vitest';
import { formatApplyItems, formatDiffs, hasDifferences, rolloutResult, waitedItems } from './results';
import { revisionTarget } from './rollout';
import { webService } from './__fixtures__/views';
import { serialize } from './serialize';

describe('formatApplyItems', () => {
  it('prints one kubectl-style line per service, marking a dry run', () => {
    const items = [
      { name: 'web', action: 'created' as const },
      { name: 'api', action: 'unchanged' as const },
    ];
    expect(formatApplyItems(items, false)).toEqual(['service/web created', 'service/api unchanged']);
    expect(formatApplyItems(items, true)).toEqual(['service/web created (dry run)', 'service/api unchanged (dry run)']);
  });
});

describe('formatDiffs', () => {
  const changed = { name: 'web', action: 'configured' as const, diff: '@@ -1,2 +1,2 @@\n spec:\n-  replicas: 3\n+  replicas: 4\n' };
  const same = { name: 'api', action: 'unchanged' as const, diff: '' };

  it('puts a live/manifest header over each changed service and skips unchanged ones', () => {
    expect(formatDiffs([same, changed])).toBe('--- web (live)\n+++ web (manifest)\n@@ -1,2 +1,2 @@\n spec:\n-  replicas: 3\n+  replicas: 4');
    expect(hasDifferences([same, changed])).toBe(true);
    expect(formatDiffs([same])).toBe('');
    expect(hasDifferences([same])).toBe(false);
  });

  it('does not repeat a header the server already wrote', () => {
    const withHeader = { ...changed, diff: `--- a\n+++ b\n${changed.diff}` };
    expect(formatDiffs([withHeader])).toBe(formatDiffs([changed]));
  });
});

describe('serialize', () => {
  it('prints JSON and YAML', () => {
    expect(serialize([{ a: 1 }], 'json')).toBe('[\n  {\n    "a": 1\n  }\n]');
    expect(serialize([{ a: 1 }], 'yaml')).toBe('- a: 1');
    expect(serialize([], 'yaml')).toBe('[]');
  });
});

describe('waitedItems and rolloutResult', () => {
  const paused = webService;
  const fresh = { ...webService, metadata: { ...webService.metadata, name: 'api', revision: 1 }, status: { desired: 1, running: 1, updated: 1 } };

  it('apply --wait -o json: per applied service the revision written, the record last seen and how it ended', () => {
    const items = [
      { name: 'web', action: 'configured' as const, service: paused },
      { name: 'api', action: 'created' as const, service: fresh },
    ];
    const outcomes = [
      { target: revisionTarget(fresh), service: fresh, result: 'converged' as const },
      { target: revisionTarget(paused), service: paused, result: 'paused' as const, message: 'web: rollout paused' },
    ];
    expect(waitedItems(items, outcomes)).toEqual({
      items: [
        { name: 'web', action: 'configured', revision: 2, rollout: paused.status.rollout, result: 'paused' },
        { name: 'api', action: 'created', revision: 1, rollout: null, result: 'converged' },
      ],
    });
  });

  it('rollout status -o json: the rollout record with the service name and how the wait ended', () => {
    expect(rolloutResult({ target: revisionTarget(paused), service: paused, result: 'paused' })).toEqual({ name: 'web', ...paused.status.rollout, result: 'paused' });
    expect(rolloutResult({ target: revisionTarget(fresh), service: fresh, result: 'converged' })).toEqual({ name: 'api', result: 'converged' });
  });
});

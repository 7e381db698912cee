import type { RevisionView } from '@berth/api';
import { describe, expect, it } from 'vitest';
import { defaultUndoTarget, renderHistory, undoLine } from './history';
import { NOW, webService } from './__fixtures__/views';

const revision = (n: number, over: Partial<RevisionView> = {}): RevisionView => ({
  revision: n,
  generation: n + 1,
  createdAt: '2026-03-01T11:00:00Z',
  cause: 'apply',
  image: `busybox:${n}`,
  current: false,
  spec: webService.spec,
  ...over,
});

describe('renderHistory', () => {
  it('lists revisions oldest first with their age and cause, marking the current one', () => {
    const text = renderHistory(
      [
        revision(1, { imageDigest: `sha256:0123456789ab${'c'.repeat(52)}` }),
        revision(2, { createdAt: '2026-03-01T11:55:00Z', cause: 'rollback to revision 1: web.2.k3x failed' }),
        revision(3, { current: true, cause: '', imageDigest: `sha256:${'f'.repeat(64)}` }),
      ],
      NOW,
    );
    expect(text.split('\n').map((l) => l.trim().split(/\s{2,}/))).toEqual([
      ['CURRENT', 'REVISION', 'GENERATION', 'IMAGE', 'DIGEST', 'CREATED', 'CAUSE'],
      ['1', '2', 'busybox:1', 'sha256:0123456789ab', '60m ago', 'apply'],
      ['2', '3', 'busybox:2', '-', '5m ago', 'rollback to revision 1: web.2.k3x failed'],
      ['*', '3', '4', 'busybox:3', 'sha256:ffffffffffff', '60m ago', '-'],
    ]);
  });
});

describe('rollout undo', () => {
  it('knows the default target from the rollout record of the current revision only', () => {
    expect(defaultUndoTarget(webService)).toBe(1);
    expect(defaultUndoTarget({ ...webService, metadata: { ...webService.metadata, revision: 3 } })).toBeUndefined();
    expect(defaultUndoTarget({ ...webService, status: { desired: 3, running: 3, updated: 3 } })).toBeUndefined();
  });

  it('says which revision came back, and as which new one', () => {
    expect(undoLine('web', 2, 5)).toBe('service/web rolled back to revision 2 (now revision 5)');
    expect(undoLine('web', undefined, 5)).toBe('service/web rolled back (now revision 5)');
  });
});

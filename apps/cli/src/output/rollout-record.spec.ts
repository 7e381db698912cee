import type { RolloutView, ServiceView } from '@berth/api';
import { describe, expect, it } from 'vitest';
import { webService } from './__fixtures__/views';
import { assessRevision, learnRollout, type Assessment, type RolloutTarget } from './rollout-record';

/** The service at `revision` with 4 replicas, `running` of them up, and this rollout record. */
function at(revision: number, rollout?: Partial<RolloutView> & Pick<RolloutView, 'revision' | 'state'>, running = 4): ServiceView {
  const record: RolloutView | undefined = rollout && { total: 4, updated: 0, failed: 0, startedAt: '2026-03-01T12:00:00Z', updatedAt: '2026-03-01T12:00:01Z', ...rollout };
  return {
    ...webService,
    metadata: { ...webService.metadata, revision },
    spec: { ...webService.spec, replicas: 4 },
    status: { desired: 4, running, updated: running, ...(record ? { rollout: record } : {}) },
  };
}

const REASON = 'web.2.k3x failed (exited with code 3) within monitor';

/** Follows a sequence of looks at the service the way the wait loop does: learn, then assess. */
function follow(start: RolloutTarget, looks: readonly ServiceView[], gaps: readonly string[] = []): Assessment[] {
  let t = start;
  return looks.map((s) => {
    t = learnRollout(t, s);
    return assessRevision('web', t, s, gaps);
  });
}

describe('assessRevision', () => {
  it('waits for the leader to start the revision, then shows the progress of the record, then is done', () => {
    const seen = follow({ revision: 3, previous: 2 }, [
      at(3, { revision: 2, state: 'completed', updated: 4 }),
      at(3, { revision: 3, state: 'updating', previousRevision: 2, updated: 1 }, 3),
      at(3, { revision: 3, state: 'updating', previousRevision: 2, updated: 2, failed: 1 }),
      at(3, { revision: 3, state: 'completed', previousRevision: 2, updated: 4 }),
    ]);
    expect(seen.map((a) => [a.kind, a.line])).toEqual([
      ['waiting', 'web: waiting for the rollout of revision 3 to start'],
      ['waiting', 'web: updating 1/4 (revision 3; 3/4 running)'],
      ['waiting', 'web: updating 2/4 (revision 3; 1 failed)'],
      ['done', 'web: updated 4/4 (revision 3)'],
    ]);
  });

  it('waits without a record at all (the leader has not looked at the service yet)', () => {
    expect(assessRevision('web', { revision: 1 }, at(1), ['4 more to run'])).toEqual({
      kind: 'waiting',
      line: 'web: waiting for the rollout of revision 1 to start',
      missing: 'web: waiting for the rollout of revision 1 to start (4 more to run)',
    });
  });

  it('is not done while a completed rollout still has something missing, and says what', () => {
    const a = assessRevision('web', { revision: 3 }, at(3, { revision: 3, state: 'completed', updated: 4 }), ['1 task still stopping']);
    expect(a).toEqual({ kind: 'waiting', line: 'web: updated 4/4 (revision 3)', missing: 'web: updated 4/4 (revision 3) (1 task still stopping)' });
  });

  it('stops on a pause with the reason, and tells how to resume or undo', () => {
    const [a] = follow({ revision: 3, previous: 2 }, [at(3, { revision: 3, state: 'paused', previousRevision: 2, updated: 1, failed: 1, reason: REASON })]);
    expect(a).toEqual({
      kind: 'stopped',
      result: 'paused',
      line: `web: paused at 1/4 (revision 3): ${REASON}`,
      message: [
        `web: rollout paused: ${REASON}`,
        '  revision 3: 1/4 updated, 1 failed; "berth rollout resume web" continues it, "berth rollout undo web" goes back to revision 2',
      ].join('\n'),
    });
  });

  it('follows an automatic rollback (the next revision) until it is rolled back', () => {
    const seen = follow({ revision: 3, previous: 2 }, [
      at(3, { revision: 3, state: 'updating', previousRevision: 2, updated: 1 }),
      at(3, { revision: 3, state: 'rolling-back', previousRevision: 2, updated: 1, failed: 1, reason: REASON }),
      at(4, { revision: 3, state: 'rolling-back', previousRevision: 2, updated: 1, failed: 1, reason: REASON }), // 4 has no record yet
      at(4, { revision: 4, state: 'rolling-back', previousRevision: 3, rollbackOf: 3, updated: 1, reason: REASON }),
      at(4, { revision: 4, state: 'rolled-back', previousRevision: 3, rollbackOf: 3, updated: 4, reason: REASON }),
    ]);
    expect(seen.map((a) => [a.kind, a.line])).toEqual([
      ['waiting', 'web: updating 1/4 (revision 3)'],
      ['waiting', `web: rolling back to revision 2 (1/4): ${REASON}`],
      ['waiting', `web: rolling back to revision 2 (1/4): ${REASON}`],
      ['waiting', `web: rolling back to revision 2 (1/4): ${REASON}`],
      ['stopped', `web: rolled back to revision 2: ${REASON}`],
    ]);
    expect(seen[4]).toMatchObject({ result: 'rolled-back', message: `web: rolled back to revision 2: ${REASON}` });
  });

  it('learns the revision a rollback returns to from the record of the followed revision', () => {
    const seen = follow({ revision: 5 }, [
      at(5, { revision: 5, state: 'updating', previousRevision: 3 }),
      at(6, { revision: 6, state: 'rolling-back', previousRevision: 5, rollbackOf: 5, reason: REASON }),
    ]);
    expect(seen[1]!.line).toBe(`web: rolling back to revision 3 (0/4): ${REASON}`);
  });

  it('names the failed revision when it does not know which one the rollback restores (followed from the rollback on)', () => {
    const seen = follow({ revision: 4 }, [
      at(4, { revision: 4, state: 'rolling-back', previousRevision: 3, rollbackOf: 3, reason: REASON }),
      at(4, { revision: 4, state: 'rolled-back', previousRevision: 3, rollbackOf: 3, updated: 4, reason: REASON }),
    ]);
    expect(seen[0]!.line).toBe(`web: rolling back from revision 3 (0/4): ${REASON}`);
    expect(seen[1]).toMatchObject({ kind: 'stopped', result: 'rolled-back', message: `web: rolled back from revision 3: ${REASON}` });
  });

  it('waits while the revision waited for is the one a rollback is written for', () => {
    // The followed revision is the next one: someone else's change would not carry rollbackOf 2.
    expect(assessRevision('web', { revision: 3 }, at(4, { revision: 4, state: 'rolling-back', rollbackOf: 2 }), []).kind).toBe('superseded');
  });

  it('reports a rollback that paused as a paused rollback', () => {
    const seen = follow({ revision: 3, previous: 2 }, [
      at(4, { revision: 4, state: 'rolling-back', rollbackOf: 3, reason: REASON }),
      at(4, { revision: 4, state: 'paused', rollbackOf: 3, updated: 1, failed: 1, reason: 'rollback paused: web.1.q2w failed (exited with code 1) within monitor' }),
    ]);
    expect(seen[1]).toMatchObject({
      kind: 'stopped',
      result: 'paused',
      line: 'web: rollback to revision 2 paused at 1/4: web.1.q2w failed (exited with code 1) within monitor',
    });
    expect((seen[1] as { message: string }).message.split('\n')[0]).toBe('web: rollback to revision 2 paused: web.1.q2w failed (exited with code 1) within monitor');
  });

  it('is superseded when someone else changed the service, whatever its record says', () => {
    expect(assessRevision('web', { revision: 3 }, at(4, { revision: 4, state: 'updating' }), [])).toEqual({
      kind: 'superseded',
      line: 'web: superseded by revision 4',
      message: 'web: revision 3 did not roll out: the service is at revision 4 now (the service was changed again)',
    });
    // Two revisions on: no automatic rollback, even one that rolls back.
    expect(assessRevision('web', { revision: 3 }, at(5, { revision: 5, state: 'rolling-back' }), []).kind).toBe('superseded');
    expect(assessRevision('web', { revision: 3 }, at(5), []).kind).toBe('superseded');
    expect(assessRevision('web', { revision: 3 }, at(1), [])).toMatchObject({ kind: 'superseded', message: expect.stringMatching(/deleted and created again/) });
  });
});

describe('learnRollout', () => {
  it('keeps the target when nothing new is seen, so the wait loop can tell', () => {
    const t = { revision: 3, previous: 2 };
    expect(learnRollout(t, at(3))).toBe(t);
    expect(learnRollout(t, at(3, { revision: 3, state: 'updating', previousRevision: 2 }))).toBe(t);
    expect(learnRollout(t, at(3, { revision: 3, state: 'updating', previousRevision: 1 }))).toEqual({ revision: 3, previous: 1 });
    expect(learnRollout(t, at(4, { revision: 4, state: 'rolling-back', rollbackOf: 3 }))).toEqual({ revision: 3, previous: 2, rollingBack: true });
    // The record of a rollback names the failed revision as its previous one: not a revision to return to.
    expect(learnRollout({ revision: 4 }, at(4, { revision: 4, state: 'rolling-back', previousRevision: 3, rollbackOf: 3 }))).toEqual({ revision: 4, rollingBack: true });
  });
});

import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { LocalTask } from '../worker/model';
import { TaskStateStore } from './task-state-store';

const dirs: string[] = [];
afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));

const task = (id: string, state: LocalTask['status']['state']): LocalTask => ({
  assignment: { taskId: id, service: 'web', slot: 1, specGeneration: 1, desiredState: 'running',
    spec: { runtime: 'container', image: 'oci:/x:1', env: {}, resources: {}, ports: [], volumes: [], stopGracePeriodMs: 1 } },
  status: { state, updatedAt: '2026-01-01T00:00:00.000Z' },
});

describe('TaskStateStore', () => {
  it('keeps the last saved record of each task across instances', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'berth-state-'));
    dirs.push(dir);
    const a = new TaskStateStore(dir);
    await a.save(task('web.1.x', 'starting'));
    await a.save(task('web.1.x', 'running'));
    await a.save(task('web.2.y', 'running'));
    await a.remove('web.2.y');
    const loaded = await new TaskStateStore(dir).loadAll();
    expect(loaded.map((t) => [t.assignment.taskId, t.status.state])).toEqual([['web.1.x', 'running']]);
  });

  it('saves of one task made at once land whole and in call order; a remove made meanwhile stays removed', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'berth-state-'));
    dirs.push(dir);
    const s = new TaskStateStore(dir);
    const states = ['assigned', 'preparing', 'starting', 'running'] as const;
    for (let round = 0; round < 20; round++) {
      await Promise.all(states.map((state) => s.save(task('web.1.x', state))));
      expect((await new TaskStateStore(dir).loadAll()).map((t) => t.status.state)).toEqual(['running']);
    }
    const saving = s.save(task('web.2.y', 'running'));
    await s.remove('web.2.y');
    await saving;
    expect((await s.loadAll()).map((t) => t.assignment.taskId)).toEqual(['web.1.x']);
  });

  it('ignores and removes a temp file left by a crash mid-write', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'berth-state-'));
    dirs.push(dir);
    const s = new TaskStateStore(dir);
    await s.save(task('web.1.x', 'running'));
    writeFileSync(join(dir, 'tasks', 'web.1.x.json.tmp'), '{"trunc');
    expect((await s.loadAll()).length).toBe(1);
    expect(readdirSync(join(dir, 'tasks'))).toEqual(['web.1.x.json']);
  });

  it('keeps the mark of a task being forgotten, and reads files written before the mark existed as not forgotten', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'berth-state-'));
    dirs.push(dir);
    const s = new TaskStateStore(dir);
    await s.save({ ...task('web.1.x', 'shutdown'), forgotten: true });
    writeFileSync(join(dir, 'tasks', 'web.2.y.json'), JSON.stringify(task('web.2.y', 'running')));
    const loaded = (await new TaskStateStore(dir).loadAll()).sort((a, b) => a.assignment.taskId.localeCompare(b.assignment.taskId));
    expect(loaded.map((t) => [t.assignment.taskId, t.forgotten ?? false])).toEqual([['web.1.x', true], ['web.2.y', false]]);
  });

  it('has nothing to load on a fresh node', async () => {
    expect(await new TaskStateStore(join(tmpdir(), 'berth-none-' + process.pid)).loadAll()).toEqual([]);
  });
});

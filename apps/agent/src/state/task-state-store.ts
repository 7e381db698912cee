import { mkdir, open, readdir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { LocalTask } from '../worker/model';

/**
 * One JSON file per task under `<dataDir>/tasks/`, written atomically (temp file, fsync, rename),
 * so a crash leaves either the old or the new record — never half of one. This is how the agent
 * re-adopts its tasks after a restart.
 *
 * Saves of one task run one after another, in call order: two at once would share the temp file
 * (one renaming it while the other still writes: a torn record) or land out of order.
 */
export class TaskStateStore {
  private readonly dir: string;
  /** The last save queued per task; it settles once that save has. */
  private readonly queued = new Map<string, Promise<void>>();

  constructor(dataDir: string) {
    this.dir = join(dataDir, 'tasks');
  }

  save(task: LocalTask): Promise<void> {
    const id = task.assignment.taskId;
    const previous = this.queued.get(id) ?? Promise.resolve();
    const next = previous.catch(() => undefined).then(() => this.write(task));
    this.queued.set(id, next);
    const forget = () => {
      if (this.queued.get(id) === next) this.queued.delete(id);
    };
    next.then(forget, forget);
    return next;
  }

  private async write(task: LocalTask): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    const target = this.path(task.assignment.taskId);
    const tmp = `${target}.tmp`;
    const file = await open(tmp, 'w', 0o600);
    try {
      await file.writeFile(JSON.stringify(task));
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(tmp, target);
  }

  /** Waits for the task's queued saves, so none of them brings the file back afterwards. */
  async remove(taskId: string): Promise<void> {
    await this.queued.get(taskId)?.catch(() => undefined);
    await rm(this.path(taskId), { force: true });
  }

  /** Every saved task; leftover temp files from a crash mid-write are ignored and removed. */
  async loadAll(): Promise<LocalTask[]> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw e;
    }
    const tasks: LocalTask[] = [];
    for (const name of names) {
      if (name.endsWith('.tmp')) await rm(join(this.dir, name), { force: true });
      else if (name.endsWith('.json')) {
        // A task being forgotten meanwhile has no file any more: it is not one to load.
        const text = await readFile(join(this.dir, name), 'utf8').catch((e: NodeJS.ErrnoException) => {
          if (e.code === 'ENOENT') return undefined;
          throw e;
        });
        if (text !== undefined) tasks.push(JSON.parse(text) as LocalTask);
      }
    }
    return tasks;
  }

  private path(taskId: string): string {
    return join(this.dir, `${taskId}.json`);
  }
}

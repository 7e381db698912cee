import { join } from 'node:path';
import { TaskSpecError } from '../errors';

/** Where one runc task keeps its things, all below `<dataDir>/tasks/<taskId>`. */
export interface TaskPaths {
  readonly dir: string;
  /** The OCI bundle: config.json lives here. */
  readonly bundle: string;
  readonly config: string;
  /** The driver's own copy of the handle, so destroy finds the network even from a partial prepare. */
  readonly handleFile: string;
  readonly rootfs: string;
  readonly upper: string;
  readonly work: string;
  readonly exitDir: string;
  readonly exitFile: string;
  readonly socketDir: string;
  readonly pidFile: string;
  readonly conmonPidFile: string;
  readonly logPath: string;
}

// Task ids become directory names, runc ids and hostnames: lowercase, digits, '.', '-'.
const TASK_ID = /^[a-z0-9]([a-z0-9.-]{0,126}[a-z0-9])?$/;

/** The paths of task `taskId` (validated: it becomes a directory name and a runc id). Pure. */
export function taskPaths(dataDir: string, taskId: string): TaskPaths {
  if (!TASK_ID.test(taskId) || taskId.includes('..')) {
    throw new TaskSpecError(taskId, 'a task id must be lowercase letters, digits, "." and "-" (at most 128 characters)');
  }
  const dir = join(dataDir, 'tasks', taskId);
  return {
    dir,
    bundle: dir,
    config: join(dir, 'config.json'),
    handleFile: join(dir, 'handle.json'),
    rootfs: join(dir, 'rootfs'),
    upper: join(dir, 'upper'),
    work: join(dir, 'work'),
    exitDir: join(dir, 'exit'),
    exitFile: join(dir, 'exit', taskId),
    socketDir: join(dir, 's'),
    pidFile: join(dir, 'pid'),
    conmonPidFile: join(dir, 'conmon.pid'),
    logPath: join(dir, 'task.log'),
  };
}

/** The task's cgroup below the node's own subtree, so agents sharing a host never collide. */
export function taskCgroupsPath(node: string, taskId: string): string {
  return `/berth/${node}/${taskId}`;
}

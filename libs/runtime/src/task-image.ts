import type { TaskConfig } from './driver';
import { TaskSpecError } from './errors';

/** The task's image reference; throws TaskSpecError for a task without one (a `vm.disk` VM, which only the qemu driver runs). */
export function taskImage(task: TaskConfig): string {
  if (task.image === undefined) throw new TaskSpecError(task.taskId, 'names no image (only a runtime vm task with vm.disk runs without one)');
  return task.image;
}

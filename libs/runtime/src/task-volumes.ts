import { posix } from 'node:path';
import type { TaskConfig } from './driver';
import { TaskSpecError } from './errors';

/** One named volume of a task: the host directory and where the task sees it. */
export interface VolumeBind {
  /** `<volumesDir>/<name>`. */
  readonly source: string;
  /** Absolute and normalised. */
  readonly destination: string;
}

// The name becomes a directory under volumesDir: no separators, no dot-dot.
const VOLUME_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** The task's named volumes as binds from `volumesDir`. Pure; throws TaskSpecError for a bad name or path. */
export function volumeBinds(task: TaskConfig, volumesDir: string): VolumeBind[] {
  return task.volumes.map((v) => {
    if (!VOLUME_NAME.test(v.name)) throw new TaskSpecError(task.taskId, `volume name "${v.name}" must be a DNS-1123 label`);
    if (!posix.isAbsolute(v.mountPath)) throw new TaskSpecError(task.taskId, `volume ${v.name}: mountPath "${v.mountPath}" must be absolute`);
    return { source: posix.join(volumesDir, v.name), destination: posix.normalize(v.mountPath) };
  });
}

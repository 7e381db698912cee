import { readFile, writeFile } from 'node:fs/promises';
import type { TaskHandle } from './driver';

/**
 * The driver's own copy of a task's handle, written as prepare goes (so destroy finds the network
 * even of a partial prepare) and read back by prepare (idempotence) and destroy.
 */
export async function readStoredHandle(file: string): Promise<TaskHandle | undefined> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as TaskHandle;
  } catch {
    return undefined;
  }
}

export function writeStoredHandle(file: string, h: TaskHandle): Promise<void> {
  return writeFile(file, JSON.stringify(h));
}

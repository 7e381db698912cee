import type { TaskConfig } from '../driver';
import { TaskSpecError } from '../errors';
import type { ImageConfig } from '../images/image-config';
import { processArgs, processEnv } from '../runc/oci-spec';
import type { ProcessUser } from '../runc/user';
import { encodeGuestSpec, type GuestSpec } from './guest-protocol';

/**
 * The spec file of what the guest init runs: argv, env, user and workdir as runc would run them.
 * Pure; throws TaskSpecError (naming the task) for what the guest cannot run.
 */
export function guestSpecFile(task: TaskConfig, image: ImageConfig, user: ProcessUser, network?: GuestSpec['network']): string {
  const env = Object.fromEntries(processEnv(task, image).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
  const spec: GuestSpec = {
    argv: processArgs(task, image),
    env,
    workdir: image.workingDir ?? '/',
    uid: user.uid,
    gid: user.gid,
    hostname: task.taskId,
    ...(network ? { network } : {}),
  };
  try {
    return encodeGuestSpec(spec);
  } catch (e) {
    throw forTask(task.taskId, e);
  }
}

/** A TaskSpecError raised without a task (`task -: …`, by the boot kit's pure parts) renamed to `taskId`; anything else as it is. */
export function forTask(taskId: string, e: unknown): unknown {
  return e instanceof TaskSpecError && e.taskId === '-' ? new TaskSpecError(taskId, e.message.replace(/^task -: /, '')) : e;
}

import { randomBytes } from 'node:crypto';
import { link, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { RuntimeOperationError } from '../errors';
import { EXEC_SLOTS } from './guest-protocol';
import type { VmPaths } from './vm-paths';

/**
 * Takes a free exec slot: its claim file is created (atomically, with this process's pid) or was
 * left by a process that is gone or marked stale. Throws when all EXEC_SLOTS are in use.
 */
export async function claimSlot(t: { readonly taskId: string; readonly paths: VmPaths }): Promise<number> {
  for (let slot = 0; slot < EXEC_SLOTS; slot++) if (await claim(t.paths.execSlots[slot]!.claim)) return slot;
  throw new RuntimeOperationError(t.taskId, 'exec', `${EXEC_SLOTS} commands already run in this VM; run it again once one has ended`);
}

async function claim(file: string): Promise<boolean> {
  const mine = `${file}.${randomBytes(4).toString('hex')}`;
  await writeFile(mine, `${process.pid}\n`);
  try {
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        await link(mine, file);
        return true;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
      if (holderRuns((await readFile(file, 'utf8').catch(() => '')).trim())) return false;
      // Only one taker's rename succeeds; the others find the next claim, or none.
      const stale = `${file}.${randomBytes(4).toString('hex')}.stale`;
      if (await rename(file, stale).then(() => true, () => false)) await rm(stale, { force: true });
    }
    return false;
  } finally {
    await rm(mine, { force: true });
  }
}

function holderRuns(holder: string): boolean {
  if (!/^\d+$/.test(holder)) return false;
  try {
    process.kill(Number(holder), 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Gives the slot back: its command ended and the guest said so. */
export async function releaseSlot(claimFile: string): Promise<void> {
  await rm(claimFile, { force: true });
}

/** Leaves the slot claimed but stale: the guest may still run something of it, so whoever takes it next has the guest clean it first. */
export async function markSlotStale(claimFile: string): Promise<void> {
  await writeFile(claimFile, 'stale\n');
}

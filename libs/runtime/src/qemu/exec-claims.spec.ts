import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { claimSlot, markSlotStale, releaseSlot } from './exec-claims';
import { EXEC_SLOTS } from './guest-protocol';
import { vmPaths } from './vm-paths';

describe('exec slots', () => {
  let dataDir = '';
  beforeEach(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'berth-vm-exec-'));
  });
  afterEach(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  it('gives out each slot once while its holder runs, then refuses, saying how many run', async () => {
    const t = { taskId: 'web.1.abc', paths: vmPaths(dataDir, 'web.1.abc') };
    await mkdir(t.paths.dir, { recursive: true });
    const slots = await Promise.all(Array.from({ length: EXEC_SLOTS }, () => claimSlot(t)));
    expect(slots.sort()).toEqual(Array.from({ length: EXEC_SLOTS }, (_, i) => i));
    await expect(claimSlot(t)).rejects.toThrow(`task web.1.abc: exec failed: ${EXEC_SLOTS} commands already run in this VM`);
    expect(await readFile(t.paths.execSlots[0]!.claim, 'utf8')).toBe(`${process.pid}\n`);
    await releaseSlot(t.paths.execSlots[2]!.claim);
    expect(await claimSlot(t)).toBe(2);
    await markSlotStale(t.paths.execSlots[3]!.claim);
    expect(await claimSlot(t)).toBe(3);
  });

  it('takes over the slots of holders that are gone and of execs left stale', async () => {
    const t = { taskId: 'web.1.abc', paths: vmPaths(dataDir, 'web.1.abc') };
    await mkdir(t.paths.dir, { recursive: true });
    const gone = spawn('true');
    const pid = await new Promise<number>((resolve) => gone.once('exit', () => resolve(gone.pid!)));
    await writeFile(t.paths.execSlots[0]!.claim, `${pid}\n`);
    await writeFile(t.paths.execSlots[1]!.claim, 'stale\n');
    await writeFile(t.paths.execSlots[2]!.claim, '1\n'); // init: runs
    expect(await claimSlot(t)).toBe(0);
    expect(await claimSlot(t)).toBe(1);
    expect(await claimSlot(t)).toBe(3);
  });
});

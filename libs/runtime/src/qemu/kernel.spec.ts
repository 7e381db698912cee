import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TaskSpecError } from '../errors';
import { compareVersions, resolveKernel } from './kernel';

/** A minimal bzImage: the setup header's "HdrS" magic and a kernel_version pointer at 0x20E. */
function bzImage(versionString: string | undefined): Buffer {
  const image = Buffer.alloc(0x1000);
  image.write('HdrS', 0x202, 'latin1');
  if (versionString !== undefined) {
    image.writeUInt16LE(0x800, 0x20e); // the string lives at 0x800 + 0x200
    image.write(`${versionString}\0`, 0xa00, 'latin1');
  }
  return image;
}

describe('resolveKernel', () => {
  let root = '';
  let boot = '';
  let modules = '';
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'berth-kernel-'));
    boot = join(root, 'boot');
    modules = join(root, 'modules');
    await mkdir(boot);
    await mkdir(modules);
  });
  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  const kernel = (name: string, content = bzImage(undefined)) => writeFile(join(boot, name), content);
  const modulesFor = (version: string) => mkdir(join(modules, version), { recursive: true });

  it('picks the newest /boot/vmlinuz-* by version, not by name order', async () => {
    for (const v of ['6.1.0-9-amd64', '6.1.0-57-amd64', '5.10.0-30-amd64']) {
      await kernel(`vmlinuz-${v}`);
      await modulesFor(v);
    }
    await kernel('config-6.1.0-99-amd64');
    expect(await resolveKernel(undefined, { boot, modules })).toEqual({
      path: join(boot, 'vmlinuz-6.1.0-57-amd64'),
      version: '6.1.0-57-amd64',
      modulesDir: join(modules, '6.1.0-57-amd64'),
    });
  });

  it('skips a newest kernel whose modules are not installed', async () => {
    await kernel('vmlinuz-6.12.0-1-amd64');
    await kernel('vmlinuz-6.1.0-57-amd64');
    await modulesFor('6.1.0-57-amd64');
    expect((await resolveKernel(undefined, { boot, modules })).version).toBe('6.1.0-57-amd64');
  });

  it('says what to do when there is no kernel, or none with modules', async () => {
    await expect(resolveKernel(undefined, { boot, modules })).rejects.toThrow(/has no vmlinuz-\* \(install linux-image-amd64, or set vm.kernel\)/);
    await kernel('vmlinuz-6.1.0-57-amd64');
    const err = await resolveKernel(undefined, { boot, modules }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TaskSpecError);
    expect((err as Error).message).toMatch(/none of vmlinuz-6.1.0-57-amd64 .* has its modules under/);
  });

  it('takes the version of a given kernel from its file name', async () => {
    await kernel('vmlinuz-6.1.0-57-amd64');
    await modulesFor('6.1.0-57-amd64');
    const k = await resolveKernel(join(boot, 'vmlinuz-6.1.0-57-amd64'), { boot, modules });
    expect(k).toEqual({ path: join(boot, 'vmlinuz-6.1.0-57-amd64'), version: '6.1.0-57-amd64', modulesDir: join(modules, '6.1.0-57-amd64') });
  });

  it('reads the version from the bzImage header when the name has none', async () => {
    await kernel('guest-kernel', bzImage('6.1.0-57-amd64 (debian-kernel@lists.debian.org) #1 SMP PREEMPT_DYNAMIC Debian 6.1.192-3'));
    await modulesFor('6.1.0-57-amd64');
    expect((await resolveKernel(join(boot, 'guest-kernel'), { modules })).version).toBe('6.1.0-57-amd64');
  });

  it('refuses relative paths, missing files, unversioned images and missing modules', async () => {
    await expect(resolveKernel('boot/vmlinuz', { modules })).rejects.toThrow(/must be an absolute path/);
    await expect(resolveKernel(join(boot, 'nope'), { modules })).rejects.toThrow(/does not exist/);
    await kernel('mystery', Buffer.from('not a kernel'));
    await expect(resolveKernel(join(boot, 'mystery'), { modules })).rejects.toThrow(/cannot tell the version/);
    await kernel('unversioned', bzImage(undefined));
    await expect(resolveKernel(join(boot, 'unversioned'), { modules })).rejects.toThrow(/cannot tell the version/);
    await kernel('vmlinuz-7.0.0');
    await expect(resolveKernel(join(boot, 'vmlinuz-7.0.0'), { modules })).rejects.toThrow(/is version 7.0.0, but .*7.0.0 does not exist/);
  });
});

describe('compareVersions', () => {
  it('compares numeric parts as numbers', () => {
    const sorted = ['6.9.12', '6.10.1', '6.1.0-57-amd64', '6.1.0-9-amd64', '5.15.0'].sort(compareVersions);
    expect(sorted).toEqual(['5.15.0', '6.1.0-9-amd64', '6.1.0-57-amd64', '6.9.12', '6.10.1']);
  });
});

import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readManifestSources } from './sources';

describe('readManifestSources', () => {
  let dir: string;
  const noStdin = async () => {
    throw new Error('stdin was not asked for');
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-cli-sources-'));
    await mkdir(join(dir, 'many', 'nested'), { recursive: true });
    await writeFile(join(dir, 'many', 'b.yml'), 'b');
    await writeFile(join(dir, 'many', 'a.yaml'), 'a');
    await writeFile(join(dir, 'many', 'notes.txt'), 'not a manifest');
    await writeFile(join(dir, 'many', 'nested', 'c.yaml'), 'c');
    await mkdir(join(dir, 'none'));
    await writeFile(join(dir, 'one.yaml'), 'one');
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reads a file under the path as given', async () => {
    expect(await readManifestSources([join(dir, 'one.yaml')], noStdin)).toEqual([{ file: join(dir, 'one.yaml'), text: 'one' }]);
  });

  it('reads a directory’s *.yaml and *.yml files sorted by name, not recursively', async () => {
    const sources = await readManifestSources([join(dir, 'many')], noStdin);
    expect(sources).toEqual([
      { file: join(dir, 'many', 'a.yaml'), text: 'a' },
      { file: join(dir, 'many', 'b.yml'), text: 'b' },
    ]);
  });

  it('reads - from stdin as <stdin>, once', async () => {
    expect(await readManifestSources(['-'], async () => 'piped')).toEqual([{ file: '<stdin>', text: 'piped' }]);
    await expect(readManifestSources(['-', '-'], async () => '')).rejects.toThrow('-f - (stdin) can be given only once');
  });

  it('refuses missing paths and directories without manifests', async () => {
    await expect(readManifestSources([join(dir, 'nope.yaml')], noStdin)).rejects.toThrow(/cannot read .*nope\.yaml: no such file or directory/);
    await expect(readManifestSources([join(dir, 'none')], noStdin)).rejects.toThrow(/contains no \*\.yaml or \*\.yml files/);
  });
});

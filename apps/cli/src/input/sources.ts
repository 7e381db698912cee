import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { ManifestSource } from '@berth/api';
import { UsageError } from '../errors';

export const STDIN_FILE = '<stdin>';
const MANIFEST_EXTENSIONS = /\.ya?ml$/;

/**
 * Reads the manifests named by `-f` values: a file, a directory (its `*.yaml`/`*.yml` files,
 * sorted by name, not recursive) or `-` (stdin, named `<stdin>` in issues). Each source keeps the
 * path as given so issues point at it. Throws UsageError for paths that cannot be read.
 */
export async function readManifestSources(
  paths: readonly string[],
  readStdin: () => Promise<string>,
): Promise<ManifestSource[]> {
  if (paths.length === 0) throw new UsageError('no manifest given: pass -f FILE, -f DIR or -f -');
  if (paths.filter((p) => p === '-').length > 1) throw new UsageError('-f - (stdin) can be given only once');
  const sources: ManifestSource[] = [];
  for (const path of paths) {
    if (path === '-') sources.push({ file: STDIN_FILE, text: await readStdin() });
    else sources.push(...(await readPath(path)));
  }
  return sources;
}

async function readPath(path: string): Promise<ManifestSource[]> {
  const info = await stat(path).catch((e: NodeJS.ErrnoException) => {
    throw new UsageError(`cannot read ${path}: ${e.code === 'ENOENT' ? 'no such file or directory' : e.message}`);
  });
  if (!info.isDirectory()) return [{ file: path, text: await readText(path) }];
  const names = (await readdir(path, { withFileTypes: true }))
    .filter((entry) => entry.isFile() && MANIFEST_EXTENSIONS.test(entry.name))
    .map((entry) => entry.name)
    .sort();
  if (names.length === 0) throw new UsageError(`${path} contains no *.yaml or *.yml files`);
  return Promise.all(names.map(async (name) => ({ file: join(path, name), text: await readText(join(path, name)) })));
}

async function readText(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    throw new UsageError(`cannot read ${path}: ${(e as Error).message}`);
  }
}

/** Reads all of stdin as UTF-8. */
export async function readAllStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

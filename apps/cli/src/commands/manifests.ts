import { parseManifests, type ManifestSource } from '@berth/api';
import type { ServiceDraft } from '@berth/core';
import type { CliContext } from '../context';
import { readManifestSources } from '../input/sources';

/**
 * Reads the `-f` manifests and validates them locally with the same function the server uses, so
 * a bad manifest fails fast with file:line:col and the server is never contacted (ValidationError
 * or TooLargeError propagate; both exit 2).
 */
export async function readValidManifests(
  ctx: CliContext,
  paths: readonly string[],
): Promise<{ sources: ManifestSource[]; drafts: ServiceDraft[] }> {
  const sources = await readManifestSources(paths, () => ctx.readStdin());
  return { sources, drafts: parseManifests(sources) };
}

/** Collects a repeatable option's values (`-f a.yaml -f b.yaml`). */
export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

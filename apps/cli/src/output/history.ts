import type { RevisionView, ServiceView } from '@berth/api';
import { templateSource } from '@berth/core';
import { formatAge } from './age';
import { cell, renderTable } from './table';

/**
 * `berth rollout history`: one row per kept revision, oldest first as the API lists them; the
 * current one is marked `*` in the first column (kubectl config get-contexts style).
 */
export function renderHistory(items: readonly RevisionView[], now: Date): string {
  const rows = items.map((r) => [r.current ? '*' : '', String(r.revision), String(r.generation), templateSource({ image: r.image, vm: r.spec.template.vm }), shortDigest(r.imageDigest), `${formatAge(r.createdAt, now)} ago`, cell(r.cause)]);
  return renderTable(['current', 'revision', 'generation', 'image', 'digest', 'created', 'cause'], rows);
}

/** `sha256:` and the first 12 hex digits (as Docker shortens ids); `-` when not pinned. */
export function shortDigest(digest: string | undefined): string {
  return digest === undefined ? '-' : digest.slice(0, 'sha256:'.length + 12);
}

/**
 * The revision `rollout undo` without `--to-revision` returns to, as far as the service showed it
 * before: the previous revision of the current revision's rollout; undefined when not known.
 */
export function defaultUndoTarget(before: ServiceView): number | undefined {
  const r = before.status.rollout;
  return r !== undefined && r.revision === before.metadata.revision ? r.previousRevision : undefined;
}

/** `service/web rolled back to revision 2 (now revision 5)`: the spec restored, and the new revision it is. */
export function undoLine(name: string, to: number | undefined, now: number): string {
  return `service/${name} rolled back${to === undefined ? '' : ` to revision ${to}`} (now revision ${now})`;
}

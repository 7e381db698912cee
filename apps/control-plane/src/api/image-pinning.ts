import type { Service, ServiceDraft, TaskTemplate } from '@berth/core';
import type { ImageResolver } from './image-resolver';

/** What apply does with one draft's image. */
export type PinPlan =
  /** The stored service names the same reference and is pinned: keep its digest (no registry traffic). */
  | { readonly kind: 'keep'; readonly digest: string }
  /** A new service, a changed `image`, or a stored service that is not pinned: ask the registry. */
  | { readonly kind: 'resolve' }
  /** `imagePull` is set: the nodes fetch the reference themselves; no digest. */
  | { readonly kind: 'unpinned' }
  /** A `vm.disk` VM: it names no image, there is nothing to pin. */
  | { readonly kind: 'none' };

/**
 * Re-applying an unchanged manifest never moves the image: only a change of `image` (or `rollout
 * restart`, which resolves on its own) re-resolves a pinned service's reference.
 */
export function planPin(draft: TaskTemplate, stored: TaskTemplate | undefined): PinPlan {
  if (draft.image === undefined) return { kind: 'none' };
  if (draft.imagePull !== undefined) return { kind: 'unpinned' };
  if (stored?.imageDigest !== undefined && stored.image === draft.image) return { kind: 'keep', digest: stored.imageDigest };
  return { kind: 'resolve' };
}

/** The apply warning for a draft accepted without a digest because its image could not be resolved. */
export function unresolvedWarning(service: string, image: string, reason: string): string {
  return `${service}: could not resolve ${image} to a digest (${reason}); every node pulls the tag itself, so nodes may run different images`;
}

/** `t` pinned to `digest`, or not pinned at all when undefined. */
export function withDigest(t: TaskTemplate, digest: string | undefined): TaskTemplate {
  const { imageDigest: _old, ...rest } = t;
  return digest === undefined ? rest : { ...rest, imageDigest: digest };
}

/**
 * The drafts of one apply with their images pinned (planPin against `stored[i]`, the stored
 * service of `drafts[i]`), and a warning per draft whose image could not be resolved (accepted
 * without a digest). Each distinct reference is resolved once, all of them at the same time.
 */
export async function pinImages(
  drafts: readonly ServiceDraft[],
  stored: readonly (Service | undefined)[],
  resolver: ImageResolver,
): Promise<{ drafts: ServiceDraft[]; warnings: string[] }> {
  const plans = drafts.map((d, i) => planPin(d.spec.template, stored[i]?.spec.template));
  const wanted = [...new Set(drafts.filter((_, i) => plans[i]!.kind === 'resolve').map((d) => d.spec.template.image!))];
  const settled = await Promise.allSettled(wanted.map((ref) => resolver.resolve(ref)));
  const resolved = new Map(wanted.map((ref, i) => [ref, settled[i]!]));
  const warnings: string[] = [];
  const pinned = drafts.map((d, i) => {
    const plan = plans[i]!;
    let digest: string | undefined;
    if (plan.kind === 'keep') digest = plan.digest;
    if (plan.kind === 'resolve') {
      const image = d.spec.template.image!; // 'resolve' is only planned for a template with an image
      const outcome = resolved.get(image)!;
      if (outcome.status === 'fulfilled') digest = outcome.value;
      else warnings.push(unresolvedWarning(d.name, image, reasonOf(outcome.reason)));
    }
    return { ...d, spec: { ...d.spec, template: withDigest(d.spec.template, digest) } };
  });
  return { drafts: pinned, warnings };
}

function reasonOf(e: unknown): string {
  if (e && typeof e === 'object' && 'reason' in e && typeof e.reason === 'string') return e.reason;
  return e instanceof Error ? e.message : String(e);
}

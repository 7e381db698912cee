import { canonicalJson } from './canonical';
import type { Placement, Service, TaskTemplate } from './service';

/**
 * Canonical JSON per template object. Templates are read-only values (informer caches hand out
 * the same object until the record changes), so the text is computed once per object: the
 * orchestrator compares every task's template with its service's on every reconcile.
 */
const canonicalTemplates = new WeakMap<TaskTemplate, string>();

function canonicalTemplate(t: TaskTemplate): string {
  let text = canonicalTemplates.get(t);
  if (text === undefined) {
    text = canonicalJson(t);
    canonicalTemplates.set(t, text);
  }
  return text;
}

export function sameTemplate(a: TaskTemplate, b: TaskTemplate): boolean {
  return a === b || canonicalTemplate(a) === canonicalTemplate(b);
}

/**
 * Whether a task's placement rules are the service's: its constraints (in any order) and spreadBy.
 * `maxPerNode` and `strategy` only steer new placements, so a change of them outdates no task.
 */
export function samePlacementRules(a: Placement, b: Placement): boolean {
  return a === b || placementRules(a) === placementRules(b);
}

/** The rules' text per placement object, computed once (placements are read-only values, as templates are). */
const rulesTexts = new WeakMap<Placement, string>();

function placementRules(p: Placement): string {
  let text = rulesTexts.get(p);
  if (text === undefined) {
    text = JSON.stringify([[...p.constraints].sort(), p.spreadBy ?? null]);
    rulesTexts.set(p, text);
  }
  return text;
}

/**
 * Whether a task runs what its service asks for now: its template, and the placement rules it
 * was placed by (Swarm's model: placement is part of the task spec, so a change of constraints or
 * spreadBy is a rolling update). Scaling, `maxPerNode` and `strategy` bump the service's
 * generation but outdate no task. A task stored without its template falls back to its
 * generation, one stored without its placement counts as placed by the service's; a task created
 * before the service's last `rollout restart` is outdated.
 */
export function isTaskCurrent(
  task: { readonly specGeneration: number; readonly template?: TaskTemplate; readonly placement?: Placement },
  service: Service,
): boolean {
  // `rollout restart` outdates every task created before it, whatever its template.
  if (service.meta.restartGeneration !== undefined && task.specGeneration < service.meta.restartGeneration) return false;
  if (task.placement && !samePlacementRules(task.placement, service.spec.placement)) return false;
  return task.template ? sameTemplate(task.template, service.spec.template) : task.specGeneration >= service.meta.generation;
}

import { canonicalJson } from './canonical';
import type { Service, TaskTemplate } from './service';

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
 * Whether a task runs what its service asks for now. Only the template counts: scaling or a
 * placement change bumps the service's generation but outdates no task, so neither triggers a
 * rolling update. A task stored without its template falls back to its generation; a task
 * created before the service's last `rollout restart` is outdated.
 */
export function isTaskCurrent(task: { readonly specGeneration: number; readonly template?: TaskTemplate }, service: Service): boolean {
  // `rollout restart` outdates every task created before it, whatever its template.
  if (service.meta.restartGeneration !== undefined && task.specGeneration < service.meta.restartGeneration) return false;
  return task.template ? sameTemplate(task.template, service.spec.template) : task.specGeneration >= service.meta.generation;
}
